"""What one warm recommending turn costs, counted rather than timed: SQL statements, Redis round trips and model calls.

`POST /api/v1/sessions/{id}/messages` goes through Django's test client in this process (the whole middleware, DRF
and service stack of the server, without the ASGI server), against the bench database (with the demo catalog) and
Redis index and the fake model server, which answers every turn with a structured reply proposing the first two
items of the request's candidate block: each turn shows two cards. After three turns of warm-up (caches filled,
connections open), each measured turn counts:

- SQL: Django's statements on the request's connection, each named (tests/statements.py) with the transaction it
  ran in, and every query psycopg sends (PostgreSQL round trips: Django's statements plus any query sent on the raw
  connection, and a transaction's BEGIN and COMMIT);
- Redis: every write of a request to a Redis connection (redis-py's `send_packed_command`, one per command or
  pipeline), for Django's cache (django-redis) and llm's client alike, named by command, script and key kind;
- model calls: the chat completion requests the fake server received.

A cold turn (every cached entry of the customer dropped first) is counted the same way, for comparison.
Targets: SQL, the catalog read's 2 statements and at most 2 more in one transaction (the activity update and the
cards' rows); Redis <= 5 (lock included); model calls == 1.

Run alone with `.venv/bin/python -m bench.turn_cost`; it writes bench/results/turn_cost.json.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bench import common
from tests.resp import resp_commands

WARMUP_TURNS = 3
MEASURED_TURNS = 5
# SQL: the catalog side of a turn is read live (2 statements), then the activity and the cards (2, one transaction).
TARGETS = {"sql_catalog": 2, "sql_recorded": 2, "redis_round_trips": 5, "model_calls": 1}
CARDS = 2
MESSAGE = "Any ideas for a quiet dinner near Hapjeong tonight?"


# --- counting Redis round trips ----------------------------------------------------------------------------


@dataclass
class RoundTrip:
    connection: int  # id() of the redis-py connection that sent it
    commands: list[str]


@dataclass
class RedisLog:
    trips: list[RoundTrip] = field(default_factory=list)


def _script_names() -> dict[bytes, str]:
    """SHA-1 and source of every Lua script the stack sends -> a readable name."""
    from customers import cache
    from llm import lock, quota, store

    names: dict[bytes, str] = {}
    for module in (store, lock, quota):
        for name, value in vars(module).items():
            if isinstance(value, store.Script):
                names[value.sha.encode()] = name
    for name in ("_STORE_IF_LEASED", "_RELEASE_LEASE"):
        names[getattr(cache, name).encode()] = f"cache {name.strip('_')}"
    return names


def _key_kind(key: bytes) -> str:
    """`cb:1:session-access:v1:{<uuid>}` -> `session-access`; `chat:{<uuid>}:lock` -> `chat:lock`."""
    text = key.decode(errors="replace")
    text = re.sub(r"^cb:\d+:", "", text)
    text = re.sub(r"\{[^}]*\}:?", "", text)
    text = re.sub(r":v\d+", "", text)
    text = re.sub(r":\d{8}$", ":<day>", text)
    return text.rstrip(":")


def describe(command: list[bytes], scripts: dict[bytes, str]) -> str:
    name = command[0].decode().upper()
    if name in ("EVALSHA", "EVAL") and len(command) > 3:
        keys = [_key_kind(k) for k in command[3 : 3 + int(command[2])]]
        return f"{name} {scripts.get(command[1], '?')} [{', '.join(keys)}]"
    if len(command) > 1:
        return f"{name} {_key_kind(command[1])}"
    return name


@contextlib.contextmanager
def counting_postgres() -> Iterator[list[str]]:
    """Record every round trip psycopg makes while the block runs: Django's statements and any query sent on the raw
    connection (an empty query to check the connection is a round trip too). Queries sent in one pipeline
    (`customers.database.planned_row`) are one round trip, joined with "; "."""
    import psycopg

    sent: list[str] = []
    piped = False  # whether the last entry is a pipeline's, still open
    original, original_commit = psycopg.Cursor.execute, psycopg.Connection.commit

    def execute(self, query, *args, **kwargs):
        nonlocal piped
        info = self.connection.info
        text = str(query) if query else "(empty query: a connection check)"
        in_pipeline = info.pipeline_status != psycopg.pq.PipelineStatus.OFF
        if in_pipeline and piped:
            sent[-1] += f"; {text}"
            return original(self, query, *args, **kwargs)
        piped = in_pipeline
        if not self.connection.autocommit and info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            sent.append("BEGIN")  # psycopg sends it before the transaction's first query
        sent.append(text)
        return original(self, query, *args, **kwargs)

    def commit(self):
        sent.append("COMMIT")
        return original_commit(self)

    psycopg.Cursor.execute, psycopg.Connection.commit = execute, commit
    try:
        yield sent
    finally:
        psycopg.Cursor.execute, psycopg.Connection.commit = original, original_commit


@contextlib.contextmanager
def counting_redis() -> Iterator[RedisLog]:
    """Record every request written to any sync Redis connection of this process while the block runs."""
    from redis.connection import AbstractConnection

    log = RedisLog()
    original = AbstractConnection.send_packed_command
    scripts = _script_names()

    def send_packed_command(self, command, check_health=True):
        packed = command.encode() if isinstance(command, str) else b"".join(command)
        names = [describe(c, scripts) for c in resp_commands(packed)]
        log.trips.append(RoundTrip(connection=id(self), commands=names))
        return original(self, command, check_health)

    AbstractConnection.send_packed_command = send_packed_command
    try:
        yield log
    finally:
        AbstractConnection.send_packed_command = original


def _client_of(connection_id: int) -> str:
    from django_redis import get_redis_connection

    from llm.redis import sync_client

    for name, client in (("django cache", get_redis_connection("default")), ("llm", sync_client())):
        pool = client.connection_pool
        if any(id(c) == connection_id for c in [*pool._available_connections, *pool._in_use_connections]):
            return name
    return "other"


# --- one turn, counted -------------------------------------------------------------------------------------


def count_turn(client: Any, path: str, fake: Any) -> dict[str, Any]:
    """One POST of a message, with its SQL statements, Redis round trips and model calls."""
    from django.db import connection

    from tests.statements import Statements

    calls_before = len(fake.requests)
    statements = Statements()
    with connection.execute_wrapper(statements), counting_postgres() as sent, counting_redis() as redis_log:
        response = client.post(path, data=json.dumps({"content": MESSAGE}), content_type="application/json")
    if response.status_code != 201:
        raise RuntimeError(f"turn failed: {response.status_code} {response.content[:300]!r}")
    if len(response.json()["recommendations"]) != CARDS:
        raise RuntimeError(f"the turn showed {len(response.json()['recommendations'])} cards, not {CARDS}")
    model_calls = [r for r in fake.requests[calls_before:] if r.path.endswith("/chat/completions")]
    return {
        "sql": [{"statement": name, "transaction": number} for name, number in statements.sent],
        "postgres": sent,
        "redis": [{"client": _client_of(t.connection), "commands": t.commands} for t in redis_log.trips],
        "model_calls": len(model_calls),
    }


def _proposing_the_first_two(offered: list[tuple[str, str]]) -> dict[str, Any]:
    proposals = [{"item_id": item_id, "reason": "near you"} for item_id, _ in offered[:CARDS]]
    return {"mood": "happy", "recommendations": proposals, "reply": "Two ideas for tonight."}


def _sql_met(turn: dict[str, Any]) -> bool:
    """The catalog read's statements outside any transaction, then at most TARGETS["sql_recorded"] in one."""
    sql = turn["sql"]
    catalog, recorded = sql[: TARGETS["sql_catalog"]], sql[TARGETS["sql_catalog"] :]
    return (
        all(s["transaction"] is None for s in catalog)
        and len(recorded) <= TARGETS["sql_recorded"]
        and len({s["transaction"] for s in recorded}) == 1
        and None not in {s["transaction"] for s in recorded}
        and not any(s["statement"].startswith("unexpected") for s in sql)
    )


def run(customers: list[common.Customer]) -> dict[str, Any]:
    from tests.chat.support import answering
    from tests.fakes.openai import FakeOpenAI

    with FakeOpenAI() as fake:
        answering(fake, _proposing_the_first_two)
        common.setup_django(OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="bench", LOG_LEVEL="warning")
        from django.test import Client

        from customers import services as customer_services

        alice = customers[0]
        client = Client(headers={"Authorization": f"Token {alice.token}"})
        created = client.post("/api/v1/sessions", data={"title": "turn cost"}, content_type="application/json")
        assert created.status_code == 201, created.content
        path = f"/api/v1/sessions/{created.json()['id']}/messages"
        for _ in range(WARMUP_TURNS):
            count_turn(client, path, fake)
        warm = [count_turn(client, path, fake) for _ in range(MEASURED_TURNS)]
        customer_services.customer_cache_drop(customer_id=alice.customer_id)
        cold = count_turn(client, path, fake)

    worst = {
        "sql": max(len(t["sql"]) for t in warm),
        "postgres_round_trips": max(len(t["postgres"]) for t in warm),
        "redis_round_trips": max(len(t["redis"]) for t in warm),
        "model_calls": max(t["model_calls"] for t in warm),
    }
    steady = len({(len(t["sql"]), len(t["postgres"]), len(t["redis"]), t["model_calls"]) for t in warm}) == 1
    return {
        "turns_measured": MEASURED_TURNS,
        "same_counts_every_turn": steady,
        "warm": worst,
        "warm_turn_detail": warm[-1],
        "cold": {
            "sql": len(cold["sql"]),
            "postgres_round_trips": len(cold["postgres"]),
            "redis_round_trips": len(cold["redis"]),
            "model_calls": cold["model_calls"],
        },
        "cold_turn_detail": cold,
        "targets": TARGETS,
        "met": {
            "sql": all(_sql_met(t) for t in warm),
            "redis_round_trips": worst["redis_round_trips"] <= TARGETS["redis_round_trips"],
            "model_calls": worst["model_calls"] == TARGETS["model_calls"],
        },
    }


def print_table(result: dict[str, Any]) -> None:
    from tests.statements import KINDS

    warm, cold, targets = result["warm"], result["cold"], result["targets"]
    print(f"cost of one recommending turn ({result['turns_measured']} warm turns counted; worst shown)")
    print(f"{'':>6} | {'SQL':>4} {'PG RT':>6} {'Redis RT':>9} {'model':>6}")
    for name, row in (("warm", warm), ("cold", cold)):
        print(
            f"{name:>6} | {row['sql']:>4} {row['postgres_round_trips']:>6} {row['redis_round_trips']:>9}"
            f" {row['model_calls']:>6}"
        )
    print(
        f"target: Redis <= {targets['redis_round_trips']}, SQL: candidates {targets['sql_catalog']}"
        f" + <= {targets['sql_recorded']} in one transaction, model == {targets['model_calls']}"
    )
    detail = result["warm_turn_detail"]
    print("warm turn, SQL statements in order:")
    for i, statement in enumerate(detail["sql"], start=1):
        where = f"transaction {statement['transaction']}" if statement["transaction"] else "autocommit"
        what = KINDS.get(statement["statement"], ("?",))[0]
        print(f"  SQL {i}  {statement['statement']:<18} {where:<14} {what}")
    print("warm turn, PostgreSQL round trips in order:")
    for query in detail["postgres"]:
        print(f"  PG     {query[:110]}")
    print("warm turn, Redis round trips in order:")
    for i, trip in enumerate(detail["redis"], start=1):
        print(f"  RT {i:<2}  {trip['client']:<12} {'; '.join(trip['commands'])}")


def main() -> int:
    with common.prepared() as customers:
        result = run(customers)
    path = common.write_result("turn_cost", result)
    print_table(result)
    print(f"written to {path}")
    return 0 if all(result["met"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
