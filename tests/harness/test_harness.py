"""The harness itself: each piece does what the reliability suite and the benchmarks will rely on."""

import os
import socket
import threading
import time
from pathlib import Path

import psycopg
import pytest
import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.harness.app_server import database_address, database_url_for_tests
from tests.harness.logs import json_lines

pytestmark = pytest.mark.processes


def _shared_redis_address() -> tuple[str, int, int]:
    kwargs = redis.Redis.from_url(settings.REDIS_URL).connection_pool.connection_kwargs
    assert kwargs["db"] != 0, "these tests may only touch the test Redis database, never the developer's"
    return kwargs["host"], kwargs["port"], kwargs["db"]


def _client(port: int, *, timeout: float, db: int | None = None) -> redis.Redis:
    """A client that reports the first failure as is: redis-py 8 retries ten times by default."""
    return redis.Redis(
        host="127.0.0.1",
        port=port,
        db=_shared_redis_address()[2] if db is None else db,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


def _timed(call) -> float:
    started = time.monotonic()
    call()
    return time.monotonic() - started


def _wait_for_connections(proxy, count: int) -> None:
    deadline = time.monotonic() + 2
    while proxy.open_connections != count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proxy.open_connections == count


@pytest.fixture
def redis_proxy(fault_proxy_factory):
    host, port, _ = _shared_redis_address()
    return fault_proxy_factory(host, port)


# --- FaultProxy ---------------------------------------------------------------------------------------------


def test_proxy_forwards_both_ways_to_the_shared_redis(redis_proxy):
    host, port, db = _shared_redis_address()
    with _client(redis_proxy.port, timeout=1) as through, redis.Redis(host=host, port=port, db=db) as direct:
        assert through.ping() is True
        through.set("harness:probe", "through the proxy")
        assert direct.get("harness:probe") == b"through the proxy"
        assert redis_proxy.open_connections == 1


def test_cut_fails_open_and_new_connections_at_once_until_restored(redis_proxy):
    with _client(redis_proxy.port, timeout=2) as client:
        assert client.ping()
        idle = socket.create_connection(("127.0.0.1", redis_proxy.port), timeout=1)
        _wait_for_connections(redis_proxy, 2)
        redis_proxy.cut()
        with idle:
            assert idle.recv(16) == b""  # closed at once, not when it next sends something
        started = time.monotonic()
        with pytest.raises(redis.ConnectionError):
            client.ping()
        assert time.monotonic() - started < 0.5  # a reset, not a wait for the 2 s socket timeout
        with _client(redis_proxy.port, timeout=2) as newcomer, pytest.raises(redis.ConnectionError):
            newcomer.ping()
        _wait_for_connections(redis_proxy, 0)

        redis_proxy.restore()
        assert client.ping()  # the pool reconnects through the proxy


def test_stall_holds_connections_until_the_client_socket_timeout(redis_proxy):
    with _client(redis_proxy.port, timeout=0.3) as client:
        assert client.ping()
        redis_proxy.stall()
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            client.ping()
        assert 0.25 <= time.monotonic() - started < 1.0
        # A new connection is accepted (the connect succeeds) but its handshake gets no answer either.
        with _client(redis_proxy.port, timeout=0.3) as newcomer, pytest.raises(redis.TimeoutError):
            newcomer.ping()

        redis_proxy.restore()
        assert client.ping()


def test_slow_adds_its_delay_to_each_chunk_each_way(redis_proxy):
    with _client(redis_proxy.port, timeout=2) as client:
        client.ping()
        baseline = min(_timed(client.ping) for _ in range(3))
        redis_proxy.slow(0.2)
        slowed = _timed(client.ping)
        redis_proxy.restore()
        restored = _timed(client.ping)
    assert baseline < 0.1
    assert 0.4 <= slowed < 1.0  # the command and its reply are one chunk each
    assert restored < 0.2


def test_stop_closes_every_connection_and_leaves_no_thread_or_socket_behind(fault_proxy_factory):
    host, port, _ = _shared_redis_address()
    threads_before = threading.active_count()
    fds_before = len(os.listdir("/proc/self/fd"))

    proxy = fault_proxy_factory(host, port)
    forwarding = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
    forwarding.sendall(b"PING\r\n")
    assert forwarding.recv(16) == b"+PONG\r\n"
    proxy.stall()
    stalled = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
    _wait_for_connections(proxy, 2)
    assert threading.active_count() > threads_before

    proxy.stop()
    assert threading.active_count() == threads_before
    with forwarding, stalled:
        assert forwarding.recv(16) == b""  # closed by the proxy, not left hanging
        assert stalled.recv(16) == b""
    assert len(os.listdir("/proc/self/fd")) == fds_before
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=2).close()


# --- PrivateRedis -------------------------------------------------------------------------------------------


def test_private_redis_stops_and_starts_again_on_the_same_port_empty(private_redis):
    port = private_redis.port
    with _client(port, timeout=0.5, db=0) as client:
        client.set("k", "v")
        private_redis.flushall()
        assert client.dbsize() == 0
        client.set("k", "v")

        private_redis.stop()
        assert not private_redis.running
        with pytest.raises(redis.ConnectionError):
            client.ping()

        private_redis.start()
        assert private_redis.port == port
        assert private_redis.url(db=3) == f"redis://127.0.0.1:{port}/3"
        assert client.get("k") is None  # no persistence: a restart starts empty


# --- AppServer ----------------------------------------------------------------------------------------------


def _connections_to_test_database() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


def _wait_for_status(app, path: str, status: int, *, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        response = app.get(path, timeout=timeout)
        if response.status == status or time.monotonic() > deadline:
            assert response.status == status, response.body
            return response.json()
        time.sleep(0.2)


def test_the_test_database_url_reaches_committed_data_from_another_connection(transactional_db):
    # What app_server_factory's tests write is committed (transactional_db), so server processes see it.
    get_user_model().objects.create_user(username="harness-probe")
    with psycopg.connect(database_url_for_tests(), connect_timeout=2) as other:
        row = other.execute("SELECT current_database(), count(*) FROM auth_user WHERE username = 'harness-probe'")
        assert row.fetchone() == (connection.settings_dict["NAME"], 1)


def test_app_server_serves_the_probes_from_two_workers_on_the_test_database(
    app_server_factory, fake_openai, monkeypatch
):
    monkeypatch.setenv("HARNESS_LEAK_PROBE", "from the test process")
    before = _connections_to_test_database()  # this process's own
    app = app_server_factory(openai=fake_openai)
    environ = Path(f"/proc/{app.pid}/environ").read_bytes().split(b"\0")
    assert not any(item.startswith(b"HARNESS_LEAK_PROBE=") for item in environ)  # built from scratch

    health = app.get("/healthz")
    assert (health.status, health.json()) == (200, {"status": "ok"})
    ready = app.get("/readyz")
    assert ready.status == 200, ready.body
    assert {name: check["ok"] for name, check in ready.json()["checks"].items()} == {
        "database": True,
        "redis": True,
        "llm": True,
    }
    assert "detail" not in ready.json()["checks"]["llm"]  # details go to staff and the log only
    assert _connections_to_test_database() > before  # the workers' pools are connected to test_chatbot

    workers = app.worker_pids()
    assert len(workers) == 2
    assert app.pid not in workers

    processes = [app.pid, *workers]
    app.stop()
    deadline = time.monotonic() + 5
    while any(Path(f"/proc/{pid}").exists() for pid in processes) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(Path(f"/proc/{pid}").exists() for pid in processes)  # gone and reaped


def test_a_killed_worker_is_replaced_by_the_uvicorn_master(app_server_factory):
    app = app_server_factory()
    victim, survivor = app.worker_pids()

    app.kill_worker(victim)
    assert app.get("/healthz").status == 200  # the survivor serves while the master respawns

    workers = app.wait_for_workers(timeout=15)
    assert victim not in workers
    assert survivor in workers
    assert len(workers) == 2
    assert f"Child process [{victim}] died" in app.log_text()
    assert all(app.get("/healthz").status == 200 for _ in range(4))


def test_readyz_is_503_while_the_apps_redis_is_down_and_logs_are_json(app_server_factory, private_redis):
    # Every hit checks: a process otherwise reuses its last answer for a second (tests/chat/test_limits.py).
    app = app_server_factory({"REDIS_URL": private_redis.url(db=0), "READYZ_CACHE_SECONDS": "0"})
    assert app.get("/readyz").status == 200

    private_redis.stop()
    down = app.get("/readyz", headers={"X-Request-ID": "harness-redis-down"}, timeout=10)
    assert (down.status, down.headers["x-request-id"]) == (503, "harness-redis-down")
    checks = down.json()["checks"]
    assert (checks["redis"]["ok"], checks["database"]["ok"]) == (False, True)

    private_redis.start()
    _wait_for_status(app, "/readyz", 200, timeout=10)

    log = app.log_text()
    assert "Started parent process" in log
    records = json_lines(log)
    assert records, log
    assert all("request_id" in record and "logger" in record for record in records)
    assert any(r["logger"] == "django.request" and r.get("status_code") == 503 for r in records)


def test_readyz_follows_the_database_through_a_fault_proxy(app_server_factory, fault_proxy_factory):
    proxy = fault_proxy_factory(*database_address())
    app = app_server_factory({"DATABASE_URL": database_url_for_tests(port=proxy.port)})
    assert app.get("/readyz").status == 200
    assert proxy.open_connections >= 1

    proxy.cut()
    body = _wait_for_status(app, "/readyz", 503, timeout=10)
    assert (body["checks"]["database"]["ok"], body["checks"]["redis"]["ok"]) == (False, True)

    proxy.restore()
    _wait_for_status(app, "/readyz", 200, timeout=15)
