"""Window assembly against history length: does a turn's context cost O(window) or O(history)?

Sessions of 10, 100, 1,000 and 10,000 stored messages (Korean and English, 20-80 tokens each, written through
llm.store with a raised cap) are windowed with a 3,000-token budget, the way a turn does it: the bare-prompt budget,
the BEGIN script (regenerate mode, so nothing is appended), then `llm.window.Prompt.assemble` and the payload; "cold"
also tokenizes the system prompt afresh (llm caches its count per customer context, mood, summary and day, so most turns
find it counted). Each assembly is compared with floors measured in the same run on the same connection:

- bounded tail: one pipelined LRANGE of the bounded tail (budget // 4 + 1 messages), with token counts precomputed,
  no other work: what reading the tail costs before any decoding or selection;
- exact window: one pipelined LRANGE of exactly the messages the window takes, no other work.

Run with `.venv/bin/python -m bench.window` (Redis at BENCH_REDIS_URL, default redis://127.0.0.1:6379/14; the keys
it writes are deleted at the end). It prints a table and writes bench/results/window.json.
"""

import json
import os
import random
import socket
import statistics
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "true")
os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ["LLM_CONTEXT_BUDGET"] = "3000"

import redis
from redis.exceptions import NoScriptError

from llm import flow, lock, store, tokens, window
from llm.conf import get_settings
from llm.data import Message, Turn, Usage
from llm.errors import StoreUnavailable
from tests.llm.contexts import alice

SIZES = (10, 100, 1_000, 10_000)
ROUNDS = 300
WARMUP = 30
WRITE_BATCH = 200  # exchanges per pipelined write while filling a session
FILL_ATTEMPTS = 3
RESULTS = Path(__file__).resolve().parent / "results" / "window.json"

ENGLISH = (
    "could you suggest a quiet place for dinner tonight near the station",
    "I would like something spicy but not too expensive this week",
    "my friend is allergic to peanuts so please keep that in mind",
    "the last recommendation was great and the noodles were fresh",
    "what about a jazz bar after dinner if the budget allows it",
)
KOREAN = (
    "오늘 저녁에 조용히 먹을 수 있는 식당을 추천해 주세요",
    "매운 음식이 먹고 싶은데 너무 비싸지 않았으면 좋겠어요",
    "친구가 땅콩 알레르기가 있어서 그 점을 꼭 고려해 주세요",
    "지난번에 추천해 준 국수집이 정말 맛있었어요 감사합니다",
    "저녁 먹고 나서 갈 만한 재즈 바도 알려 주실 수 있나요",
)
# The tests' alice (tests/people.py), as `chat` would pass her to `llm`.
CONTEXT = alice()


# --- measuring the wire ------------------------------------------------------------------------------------


@dataclass
class Wire:
    round_trips: int = 0
    bytes_read: int = 0


class _CountingSocket:
    """A socket that adds what it receives to a Wire (everything else passes through)."""

    def __init__(self, sock: socket.socket, wire: Wire) -> None:
        self._sock = sock
        self._wire = wire

    def recv(self, *args: Any) -> bytes:
        data = self._sock.recv(*args)
        if not (len(args) > 1 and args[1] & socket.MSG_PEEK):
            self._wire.bytes_read += len(data)
        return data

    def recv_into(self, *args: Any) -> int:
        n = self._sock.recv_into(*args)
        self._wire.bytes_read += n
        return n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def counting_client(url: str, wire: Wire) -> redis.Redis:
    """A Redis client whose connections count round trips (writes awaiting an answer) and bytes received."""

    class Counting(redis.Connection):
        def _connect(self) -> Any:
            return _CountingSocket(super()._connect(), wire)

        def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            wire.round_trips += 1
            super().send_packed_command(command, check_health)

    pool = redis.ConnectionPool.from_url(url, connection_class=Counting)
    return redis.Redis(connection_pool=pool)


# --- filling sessions --------------------------------------------------------------------------------------


def sentence_text(rng: random.Random, model: str) -> str:
    """20-80 tokens of Korean or English, as a customer or the assistant would write."""
    target = rng.randint(20, 80)
    pool = KOREAN if rng.random() < 0.5 else ENGLISH
    text = rng.choice(pool)
    while tokens.count_text(text, model=model) < target:
        text = f"{text} {rng.choice(pool)}"
    words = text.split()
    while len(words) > 1 and tokens.count_text(" ".join(words), model=model) > 80:
        words.pop()
    return " ".join(words)


def message(role: str, seq: int, text: str, model: str) -> Message:
    return Message(
        id=uuid4().hex,
        seq=seq,
        role=role,
        content=text,
        tokens=tokens.count_message(role, text, model=model),
        created_at=datetime.now(UTC),
    )


class FillInterfered(RuntimeError):
    """A session's writes did not all land as sent: another process flushed the server's script cache meanwhile."""


def fill(client: redis.Redis, session_id: UUID, size: int, rng: random.Random) -> list[int]:
    """Store `size` messages (user and assistant in turn) through the store's scripts; their token counts.

    Each exchange is a lock, BEGIN and FINISH, pipelined by the hundred. SCRIPT FLUSH (by anyone, on any database of
    the server) makes the calls after it fail with NOSCRIPT, and the runner runs them again one by one; if another
    process loaded one of the scripts again meanwhile, the calls of that script after it ran in their place, before
    the ones that failed: a lock taken out of turn fences the exchanges after it. Every answer is checked, so that
    such a fill raises FillInterfered instead of measuring a shorter session."""
    cfg = replace(get_settings(), max_stored_messages=size + 10)
    keys = store.session_keys(session_id)
    counts: list[int] = []
    calls: list[store.Call] = []
    for seq in range(1, size + 1, 2):
        token = uuid4().hex
        user = message("user", seq, sentence_text(rng, cfg.model), cfg.model)
        reply = message("assistant", seq + 1, sentence_text(rng, cfg.model), cfg.model)
        turn = Turn(
            user_message=user, assistant_message=reply, mood=None, usage=Usage(0, 0, "counted"), provider="bench"
        )
        calls += [
            store.lock_try_call(keys.lock, token=token, hold_seconds=60, grace_seconds=2),
            store.begin_call(keys, cfg, token=token, user=user, tail_budget=1, tail_limit=1, idem=None),
            store.finish_call(keys, cfg, token=token, turn=turn, replace=False, inferred_mood=None, idem=None),
        ]
        counts += [user.tokens, reply.tokens]
        if len(calls) >= 3 * WRITE_BATCH:
            _written(client, calls)
            calls = []
    if calls:
        _written(client, calls)
    if client.llen(keys.messages) != size:
        raise FillInterfered(f"{client.llen(keys.messages)} messages stored of {size}")
    return counts


def _written(client: redis.Redis, calls: list[store.Call]) -> None:
    """Run a batch of exchanges; FillInterfered unless each took the lock, stored its message and its reply."""
    try:
        results = store.run_all(client, calls)
    except StoreUnavailable as exc:  # NOSCRIPT again, after the runner loaded the script: flushed once more
        if isinstance(exc.__cause__, NoScriptError):
            raise FillInterfered("the script cache was flushed while a script was loaded again") from exc
        raise
    for locked, begun, finished in zip(results[0::3], results[1::3], results[2::3], strict=True):
        if (locked, begun[0], finished[0]) != (1, b"ok", b"ok"):
            raise FillInterfered(f"an exchange answered {locked}, {begun[0]!r}, {finished[0]!r}")


def filled_session(client: redis.Redis, size: int, *, seed: str, sessions: list[UUID], retries: list[str]) -> UUID:
    """A new session of `size` messages (the same texts for the same seed), appended to `sessions`; filled again in
    a fresh session when another process interfered (FILL_ATTEMPTS in all), each time said in `retries`."""
    for attempt in range(1, FILL_ATTEMPTS + 1):
        session_id = uuid4()
        sessions.append(session_id)
        try:
            fill(client, session_id, size, random.Random(seed))
            return session_id
        except FillInterfered as exc:
            store.run(client, store.erase_call(store.session_keys(session_id), get_settings()))
            if attempt == FILL_ATTEMPTS:
                raise
            retries.append(f"{size} messages: {exc}")


# --- one assembly, and its floors --------------------------------------------------------------------------


def assemble(client: redis.Redis, keys: store.SessionKeys, lease: lock.Lease, *, cold: bool = False) -> window.Window:
    """What a turn does from its budget to the payload (regenerate mode: the session is left as it is). `cold`
    tokenizes the system prompt afresh, as the first turn with a new mood or summary does."""
    if cold:
        window._counted_system_prompt.cache_clear()
    cfg = get_settings()
    prompt = window.prompt(CONTEXT, cfg)  # built once, as a turn builds it
    budget = prompt.tail_budget()
    call = store.begin_call(
        keys, cfg, token=lease.token, user=None, tail_budget=budget, tail_limit=window.tail_limit(budget), idem=None
    )
    begun = store.parse_begin(store.run(client, call))
    assert isinstance(begun, store.BeginResult)
    win = prompt.assemble(mood=begun.mood, summary=begun.summary.text, tail=begun.tail)
    assert win.payload
    return win


def lrange_floor(client: redis.Redis, keys: store.SessionKeys, n: int) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.lrange(keys.messages, -n, -1)
    pipe.execute()


@dataclass
class Sample:
    seconds: list[float]
    round_trips: float
    bytes_read: float

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.seconds)
        return {
            "median_ms": round(statistics.median(ordered) * 1000, 4),
            "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 4),
            "round_trips": self.round_trips,
            "bytes_read": self.bytes_read,
        }


def measure(wire: Wire, runs: dict[str, Any]) -> dict[str, Sample]:
    """Interleave the runs round by round, so that drift in the machine's load touches them alike."""
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    totals = {name: [0, 0] for name in runs}
    for round_ in range(WARMUP + ROUNDS):
        for name, run in runs.items():
            before = (wire.round_trips, wire.bytes_read)
            started = time.perf_counter()
            run()
            elapsed = time.perf_counter() - started
            if round_ >= WARMUP:
                seconds[name].append(elapsed)
                totals[name][0] += wire.round_trips - before[0]
                totals[name][1] += wire.bytes_read - before[1]
    return {name: Sample(seconds[name], totals[name][0] / ROUNDS, totals[name][1] / ROUNDS) for name in runs}


def main() -> int:
    cfg = get_settings()
    wire = Wire()
    client = counting_client(cfg.redis_url, wire)
    bounded = window.tail_limit(window.prompt(CONTEXT, cfg).tail_budget())
    sessions: list[UUID] = []
    retries: list[str] = []  # why a fill was done again (see `fill`)
    rows = []
    try:
        for size in SIZES:
            session_id = filled_session(client, size, seed=f"20261126-{size}", sessions=sessions, retries=retries)
            keys = store.session_keys(session_id)
            lease = flow.run(client, lock.acquire(keys.lock, hold_seconds=600, wait_seconds=1))
            taken = len(assemble(client, keys, lease).messages)
            samples = measure(
                wire,
                {
                    "assembly": lambda keys=keys, lease=lease: assemble(client, keys, lease),
                    "assembly_cold_prompt": lambda keys=keys, lease=lease: assemble(client, keys, lease, cold=True),
                    "floor_bounded_tail": lambda keys=keys: lrange_floor(client, keys, bounded),
                    "floor_exact_window": lambda keys=keys, taken=taken: lrange_floor(client, keys, taken),
                },
            )
            row = {"messages": size, "window_messages": taken, **{k: v.summary() for k, v in samples.items()}}
            row["assembly_vs_bounded_tail"] = round(
                row["assembly"]["median_ms"] / row["floor_bounded_tail"]["median_ms"], 2
            )
            row["assembly_vs_exact_window"] = round(
                row["assembly"]["median_ms"] / row["floor_exact_window"]["median_ms"], 2
            )
            rows.append(row)
    finally:
        for session_id in sessions:
            store.run(client, store.erase_call(store.session_keys(session_id), cfg))

    by_size = {row["messages"]: row for row in rows}
    largest, reference = by_size[SIZES[-1]], by_size[100]
    result = {
        "budget_tokens": cfg.context_budget,
        "reply_reserve_tokens": cfg.reply_reserve,
        "bounded_tail_messages": bounded,
        "rounds": ROUNDS,
        "fill_retries": retries,
        "rows": rows,
        "targets": {
            "10k_vs_bounded_tail_floor": largest["assembly_vs_bounded_tail"],
            "10k_vs_100_messages": round(largest["assembly"]["median_ms"] / reference["assembly"]["median_ms"], 2),
            "limit": 1.5,
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    targets = result["targets"]
    return 0 if max(targets["10k_vs_bounded_tail_floor"], targets["10k_vs_100_messages"]) <= 1.5 else 1


def print_table(result: dict[str, Any]) -> None:
    print(
        f"window assembly, budget {result['budget_tokens']} tokens (reply reserve {result['reply_reserve_tokens']}),"
        f" bounded tail {result['bounded_tail_messages']} messages, {result['rounds']} rounds"
    )
    header = (
        f"{'stored':>7} {'window':>6} | {'assembly med':>12} {'p95':>7} {'RT':>3} {'bytes':>7} | {'cold med':>9} | "
        f"{'tail floor':>10} {'bytes':>7} | {'exact floor':>11} {'bytes':>6} | {'vs tail':>7} {'vs exact':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in result["rows"]:
        a, c = row["assembly"], row["assembly_cold_prompt"]
        b, e = row["floor_bounded_tail"], row["floor_exact_window"]
        print(
            f"{row['messages']:>7} {row['window_messages']:>6} | {a['median_ms']:>10.3f}ms {a['p95_ms']:>5.3f}ms"
            f" {a['round_trips']:>3.0f} {a['bytes_read']:>7.0f} | {c['median_ms']:>7.3f}ms |"
            f" {b['median_ms']:>8.3f}ms {b['bytes_read']:>7.0f} | {e['median_ms']:>9.3f}ms {e['bytes_read']:>6.0f} |"
            f" {row['assembly_vs_bounded_tail']:>6.2f}x {row['assembly_vs_exact_window']:>7.2f}x"
        )
    targets = result["targets"]
    print(
        f"targets (<= {targets['limit']}x): 10,000 messages vs the bounded-tail floor"
        f" {targets['10k_vs_bounded_tail_floor']}x, vs 100 messages {targets['10k_vs_100_messages']}x"
    )
    for retry in result["fill_retries"]:
        print(f"filled again (another process flushed the script cache): {retry}")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    sys.exit(main())
