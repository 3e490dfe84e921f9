"""Helpers for the tests of llm's Redis side: the raw test database, round-trip counting, fake-server replies."""

import asyncio
import json
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import redis
from django.conf import settings

from llm import answers, services, tokens
from llm.answers import Answer, Grounds
from llm.providers import ModelRequest
from llm.redis import async_client, sync_client
from llm.store import Script, scripts
from tests.fakes.openai import FakeOpenAI, Reply
from tests.resp import resp_commands

T = TypeVar("T")


def run_async(coro: Coroutine[object, object, T]) -> T:
    """`asyncio.run`, closing the loop's llm Redis client before the loop goes (no transport left to the GC)."""

    async def main() -> T:
        try:
            return await coro
        finally:
            await async_client().aclose()

    return asyncio.run(main())


def raw_redis() -> redis.Redis:
    """A plain client of the test database, to look at what llm stored (decoded strings)."""
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)


def session_keys_in_redis(session_id) -> set[str]:
    return set(raw_redis().scan_iter(match=f"chat:{{{session_id}}}:*"))


def snapshot(client: redis.Redis | None = None) -> dict[str, object]:
    """Every key of the test database with its value, to show that an operation changed nothing."""
    client = client or raw_redis()
    dump = {}
    for key in sorted(client.scan_iter()):
        kind = client.type(key)
        if kind == "string":
            dump[key] = client.get(key)
        elif kind == "list":
            dump[key] = client.lrange(key, 0, -1)
        elif kind == "hash":
            dump[key] = client.hgetall(key)
        elif kind == "zset":
            dump[key] = client.zrange(key, 0, -1, withscores=True)
        else:
            dump[key] = kind
    return dump


_SCRIPTS = {script.sha.encode(): script.name.upper() for script in vars(scripts).values() if isinstance(script, Script)}


@dataclass
class RoundTrips:
    """The requests written to Redis connections: each awaits its answer (a pipeline is written at once)."""

    sent: list[bytes] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.sent)

    def commands(self) -> list[list[str]]:
        """Each round trip's commands, an EVALSHA named by its script: [["MULTI", "LOCK_TRY", "BEGIN", "EXEC"], ...]."""
        return [[_name(command) for command in resp_commands(packed)] for packed in self.sent]

    def record(self, command: bytes | str | list[bytes]) -> None:
        self.sent.append(command.encode() if isinstance(command, str) else b"".join(command))


def _name(command: list[bytes]) -> str:
    if command[0].upper() == b"EVALSHA":
        return _SCRIPTS.get(command[1], "EVALSHA ?")
    return command[0].decode().upper()


@contextmanager
def count_round_trips(client: redis.Redis | None = None) -> Iterator[RoundTrips]:
    """Count the round trips llm's sync client makes on a warm (pooled) connection."""
    client = client or sync_client()
    pool = client.connection_pool
    trips = RoundTrips()
    base = pool.connection_class

    class Counting(base):
        def send_packed_command(self, command, check_health=True):
            trips.record(command)
            return super().send_packed_command(command, check_health)

    pool.disconnect()
    pool.connection_class = Counting
    pool.reset()  # drop the idle connections: every connection from now on counts
    client.ping()  # one warm connection, as a running process has; its handshake is not a turn's doing
    trips.sent.clear()
    try:
        yield trips
    finally:
        pool.disconnect()
        pool.connection_class = base
        pool.reset()


@asynccontextmanager
async def acount_round_trips() -> AsyncIterator[RoundTrips]:
    """`count_round_trips` for llm's asyncio client of the running event loop."""
    client = async_client()
    pool = client.connection_pool
    trips = RoundTrips()
    base = pool.connection_class

    class Counting(base):
        async def send_packed_command(self, command, check_health=True):
            trips.record(command)
            return await super().send_packed_command(command, check_health)

    await pool.disconnect()
    pool.connection_class = Counting
    pool.reset()
    await client.ping()
    trips.sent.clear()
    try:
        yield trips
    finally:
        await pool.disconnect()
        pool.connection_class = base
        pool.reset()


def reply(text: str, mood: str | None = None, **options) -> Reply:
    """A structured reply as the model sends it for purpose "reply" (`options`: Reply's delay, chunks...)."""
    return Reply(content=json.dumps({"mood": mood, "reply": text}), **options)


def chat_bodies(fake: FakeOpenAI) -> list[dict]:
    """The bodies of the chat completion requests the fake server received, in order."""
    return [r.body for r in fake.requests if r.path.endswith("/chat/completions")]


def is_reply_request(body: dict) -> bool:
    """Replies ask for structured output; folds and summaries for plain text."""
    return "response_format" in body


def text_with_tokens(n: int, *, model: str) -> str:
    """A text of exactly `n` tokens in `model`'s encoding ("hello hello ...": one token per word)."""
    text = " ".join(["hello"] * n)
    assert tokens.count_text(text, model=model) == n
    return text


def seqs_and_roles(session_id) -> list[tuple[int, str]]:
    """The session's stored messages as (seq, role), oldest first."""
    return [(m.seq, m.role) for m in services.messages_list(session_id=session_id)]


def alternating(n: int) -> list[tuple[int, str]]:
    """What `seqs_and_roles` gives for n messages of answered turns: user, assistant, user, ..."""
    return [(seq, "user" if seq % 2 else "assistant") for seq in range(1, n + 1)]


@dataclass(frozen=True)
class Grounded:
    """A provider called as a turn calls it (llm/answers.py): a reply grounded in its request's context, the one
    its offline input carries (a model ignores that input; the turn grounds in the same context)."""

    provider: object

    def complete(self, request: ModelRequest) -> Answer:
        return answers.complete(self.provider, request, _grounds(request))

    def astream(self, request: ModelRequest) -> AsyncIterator[str | Answer]:
        return answers.stream(self.provider, request, _grounds(request))


def _grounds(request: ModelRequest) -> Grounds | None:
    given = request.offline
    if request.purpose != "reply" or given is None or given.context is None:
        return None
    return Grounds(given.context, max_cards=given.max_cards)
