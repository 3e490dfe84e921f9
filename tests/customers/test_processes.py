"""Behaviour across separate processes sharing PostgreSQL and Redis, as several workers of one deployment do."""

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection, transaction

from customers import services
from customers.models import ChatSession

pytestmark = [pytest.mark.processes, pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parents[2]


def _env(**overrides: str) -> dict[str, str]:
    """The test settings, pointed at pytest-django's test database (not the developer's)."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": url, **overrides}


@contextmanager
def _workers(commands: list[list[str]], env: dict[str, str]) -> Iterator[list[subprocess.Popen]]:
    """Start one worker per command and wait until each has set Django up."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.customers.proc_worker", *command],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _go(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()


def _results(procs: list[subprocess.Popen]) -> list[object]:
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    return results


@pytest.mark.django_db(transaction=True)
def test_a_cold_key_missed_by_several_processes_at_once_costs_one_query(alice):
    with _workers([["profile-in-threads", str(alice.customer_id), "4"]] * 3, _env()) as procs:
        # The table lock holds the first loader's query back until every reader of every process has missed.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("LOCK TABLE customers_customer IN ACCESS EXCLUSIVE MODE")
            _go(procs)
            time.sleep(0.5)
        results = _results(procs)
    assert [result["names"] for result in results] == [["Alice Kim"] * 4] * 3
    assert sum(result["queries"] for result in results) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_ends_from_several_processes_end_the_session_exactly_once(alice):
    session = services.session_open(customer_id=alice.customer_id)
    with _workers([["end", str(session.session_id)]] * 4, _env()) as procs:
        # The row lock lines every process's UPDATE up behind it, so that all of them race for the same row.
        with transaction.atomic():
            ChatSession.objects.select_for_update().get(pk=session.session_id)
            _go(procs)
            time.sleep(0.5)
        results = _results(procs)
    assert sorted(results) == ["ended", "session_ended", "session_ended", "session_ended"]
    row = ChatSession.objects.get(pk=session.session_id)
    assert row.status == "ended"
    assert row.summary.startswith("ended by process ")


@pytest.mark.django_db
def test_with_postgresql_down_a_warm_cache_answers_and_a_cold_read_is_service_unavailable(alice, bob, closed_port):
    alice_session = services.session_open(customer_id=alice.customer_id)
    bob_session = services.session_open(customer_id=bob.customer_id)
    services.api_user_get_by_token(key=alice.token)
    services.customer_id_get_by_user(user_id=alice.user_id)
    services.customer_profile_get(customer_id=alice.customer_id)
    services.session_access_get(customer_id=alice.customer_id, session_id=alice_session.session_id)
    services.turn_facts_get(customer_id=alice.customer_id, session_id=alice_session.session_id, past_limit=3)

    db = connection.settings_dict
    env = _env(
        DATABASE_URL=f"postgres://{db['USER']}@127.0.0.1:{closed_port}/{db['NAME']}",
        DATABASE_POOL_TIMEOUT="0.2",
        DATABASE_CONNECT_TIMEOUT="1",
    )
    commands = [
        ["turn-reads", str(alice.customer_id), str(alice.user_id), alice.token, str(alice_session.session_id)],
        ["turn-reads", str(bob.customer_id), str(bob.user_id), bob.token, str(bob_session.session_id)],
    ]
    with _workers(commands, env) as procs:
        _go(procs)
        warm, cold = _results(procs)
    assert warm == {
        "api_user": str(alice.user_id),
        "customer_id": str(alice.customer_id),
        "profile": "Alice Kim",
        "access": "open",
        "turn_facts": "0",
        "activity": "service_unavailable",  # a write needs the database
    }
    assert set(cold.values()) == {"service_unavailable"}
