"""What one warm turn costs, counted rather than timed: SQL statements, Redis round trips and model calls.

`POST /api/v1/sessions/{id}/messages` goes through Django's test client in this process (the whole middleware, DRF
and service stack of the server, without the ASGI server), against the bench database and Redis index and the fake
model server. After three turns of warm-up (caches filled, connections open), each measured turn counts:

- SQL: django.test.utils.CaptureQueriesContext on the request's connection (Django's statements), and every query
  psycopg sends (PostgreSQL round trips: Django's statements plus any query sent on the raw connection);
- Redis: every write of a request to a Redis connection (redis-py's `send_packed_command`, one per command or
  pipeline), for Django's cache (django-redis) and llm's client alike, named by command, script and key kind;
- model calls: the chat completion requests the fake server received.

A cold turn (every cached entry of the customer dropped first) is counted the same way, for comparison.
Targets: SQL <= 1 (the activity update; held against both counts), Redis <= 6 (lock included), model calls == 1.

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

WARMUP_TURNS = 3
MEASURED_TURNS = 5
# SQL: the catalog side of a turn is read live (candidates 2, names to avoid 2, recent ratings 1), the activity 1.
TARGETS = {"sql": 6, "redis_round_trips": 6, "model_calls": 1}
MESSAGE = "Any ideas for a quiet dinner near Hapjeong tonight?"


# --- counting Redis round trips ----------------------------------------------------------------------------


@dataclass
class RoundTrip:
    connection: int  # id() of the redis-py connection that sent it
    commands: list[str]


@dataclass
class RedisLog:
    trips: list[RoundTrip] = field(default_factory=list)


def _resp_commands(packed: bytes) -> list[list[bytes]]:
    """The commands in a packed RESP request (one, or several for a pipeline)."""
    commands, pos = [], 0
    while pos < len(packed):
        end = packed.index(b"\r\n", pos)
        count, pos = int(packed[pos + 1 : end]), end + 2
        args = []
        for _ in range(count):
            end = packed.index(b"\r\n", pos)
            size, pos = int(packed[pos + 1 : end]), end + 2
            args.append(packed[pos : pos + size])
            pos += size + 2
        commands.append(args)
    return commands


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
    """Record every query psycopg sends while the block runs: Django's statements and any query sent on the raw
    connection (an empty query to check the connection is a round trip too)."""
    import psycopg

    sent: list[str] = []
    original = psycopg.Cursor.execute

    def execute(self, query, *args, **kwargs):
        sent.append(str(query) if query else "(empty query: a connection check)")
        return original(self, query, *args, **kwargs)

    psycopg.Cursor.execute = execute
    try:
        yield sent
    finally:
        psycopg.Cursor.execute = original


@contextlib.contextmanager
def counting_redis() -> Iterator[RedisLog]:
    """Record every request written to any sync Redis connection of this process while the block runs."""
    from redis.connection import AbstractConnection

    log = RedisLog()
    original = AbstractConnection.send_packed_command
    scripts = _script_names()

    def send_packed_command(self, command, check_health=True):
        packed = command.encode() if isinstance(command, str) else b"".join(command)
        names = [describe(c, scripts) for c in _resp_commands(packed)]
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
    from django.test.utils import CaptureQueriesContext

    calls_before = len(fake.requests)
    with CaptureQueriesContext(connection) as queries, counting_postgres() as sent, counting_redis() as redis_log:
        response = client.post(path, data=json.dumps({"content": MESSAGE}), content_type="application/json")
    if response.status_code != 201:
        raise RuntimeError(f"turn failed: {response.status_code} {response.content[:300]!r}")
    model_calls = [r for r in fake.requests[calls_before:] if r.path.endswith("/chat/completions")]
    return {
        "sql": [q["sql"] for q in queries.captured_queries],
        "postgres": sent,
        "redis": [{"client": _client_of(t.connection), "commands": t.commands} for t in redis_log.trips],
        "model_calls": len(model_calls),
    }


def run(customers: list[common.Customer]) -> dict[str, Any]:
    from tests.fakes.openai import FakeOpenAI

    with FakeOpenAI() as fake:
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
            "sql": worst["sql"] <= TARGETS["sql"],
            "postgres_round_trips": worst["postgres_round_trips"] <= TARGETS["sql"],
            "redis_round_trips": worst["redis_round_trips"] <= TARGETS["redis_round_trips"],
            "model_calls": worst["model_calls"] == TARGETS["model_calls"],
        },
    }


def print_table(result: dict[str, Any]) -> None:
    warm, cold, targets = result["warm"], result["cold"], result["targets"]
    target_row = f"<={targets['sql']}", f"<={targets['redis_round_trips']}", f"=={targets['model_calls']}"
    print(f"cost of one turn ({result['turns_measured']} warm turns counted; worst shown)")
    print(f"{'':>6} | {'SQL':>4} {'PG RT':>6} {'Redis RT':>9} {'model':>6}")
    for name, row in (("warm", warm), ("cold", cold)):
        print(
            f"{name:>6} | {row['sql']:>4} {row['postgres_round_trips']:>6} {row['redis_round_trips']:>9}"
            f" {row['model_calls']:>6}"
        )
    print(f"{'target':>6} | {target_row[0]:>4} {target_row[0]:>6} {target_row[1]:>9} {target_row[2]:>6}")
    print("warm turn, in order:")
    for query in result["warm_turn_detail"]["postgres"]:
        print(f"  PG     {query[:110]}")
    for i, trip in enumerate(result["warm_turn_detail"]["redis"], start=1):
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
