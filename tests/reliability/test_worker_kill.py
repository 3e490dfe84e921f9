"""A worker killed with SIGKILL in the middle of a turn, as the kernel's OOM killer would, under uvicorn with two
workers (the master replaces the dead one).

The dead worker's lease of the turn lock runs out TURN_LOCK_TTL_SECONDS after it was last taken or renewed: until
then the next turn waits for it, after that the next turn succeeds on another worker. The killed turn stored its user
message before the model call and nothing after it: its message stays without a reply (never a half-written one),
and the next send answers both messages.
"""

import http.client
import json
import os
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings

from tests.fakes.openai import Reply
from tests.harness.logs import tail
from tests.reliability.fault_support import Customer, assert_clean_log, session_counters
from tests.reliability.rules import check_history, seen_turn

pytestmark = [pytest.mark.processes, pytest.mark.timeout(60)]

LOCK_TTL = 3.0
APP_ENV = {"TURN_LOCK_TTL_SECONDS": str(LOCK_TTL), "TURN_LOCK_WAIT_SECONDS": str(3 * LOCK_TTL)}
MODEL_LATENCY = 10 * LOCK_TTL  # the killed turn's model call would answer long after the test is over


def start_send(app, customer, session_id: str, content: str) -> http.client.HTTPConnection:
    """Send a turn without waiting for its answer; the open connection identifies the worker serving it."""
    conn = http.client.HTTPConnection(app.host, app.port, timeout=5)
    conn.request(
        "POST",
        f"/api/v1/sessions/{session_id}/messages",
        body=json.dumps({"content": content}),
        headers={"Authorization": f"Token {customer.token}", "Content-Type": "application/json"},
    )
    return conn


def worker_serving(app, conn: http.client.HTTPConnection) -> int:
    """The worker holding the server end of `conn`: its socket's peer is the client's port."""
    client_port = conn.sock.getsockname()[1]
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, remote_port = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)
        if (local_port, remote_port) == (app.port, client_port):
            inodes.add(f"socket:[{fields[9]}]")
    for pid in app.worker_pids():
        fds = Path(f"/proc/{pid}/fd")
        if any(os.readlink(fds / fd) in inodes for fd in os.listdir(fds)):
            return pid
    raise AssertionError(f"no worker holds the connection from port {client_port}")


def dead_lease_expiry(session_id: str) -> float:
    """When the killed worker's lease of the session's turn lock runs out, on this host's clock: the latest expiry in
    the lock's expiry hash (Redis clock, ms), moved onto ours through Redis's TIME."""
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        expiries = client.hgetall(f"chat:{{{session_id}}}:lock:expiry")
        seconds, micros = client.time()
        here = time.time()
    assert expiries, "the killed turn held no lease"
    return here + max(int(v) for v in expiries.values()) / 1000 - (seconds + micros / 1_000_000)


@pytest.fixture
def app(app_server_factory, fake_openai):
    app = app_server_factory(APP_ENV, workers=2, openai=fake_openai)
    yield app
    print(tail(app.log_text()))  # reported only when the test failed


def test_a_turn_whose_worker_is_killed_blocks_its_session_only_until_the_lock_expires(app, alice, fake_openai):
    client = Customer(app, alice)
    session_id = client.open_session()
    first = client.send(session_id, "Before the kill")
    assert first.status == 201, first.body

    fake_openai.script(Reply("Never delivered.", delay=MODEL_LATENCY))
    conn = start_send(app, alice, session_id, "Killed mid-turn")
    fake_openai.wait_for_requests(2, timeout=10)  # the lock is held by now
    victim = worker_serving(app, conn)
    app.kill_worker(victim)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        conn.getresponse()  # the client gets no answer at all, only a dropped connection
    conn.close()
    lock_expires_at = dead_lease_expiry(session_id)

    after = client.send(session_id, "After the kill")
    answered = time.time()
    assert after.status == 201, after.body
    # It waited for the dead worker's lease to run out (nobody renews it now), and no longer.
    assert lock_expires_at - 0.2 <= answered <= lock_expires_at + 3

    history = client.history(session_id)
    assert [(m["role"], m["content"]) for m in history] == [
        ("user", "Before the kill"),
        ("assistant", "Fake reply."),
        ("user", "Killed mid-turn"),  # stored before the model call, never answered on its own
        ("user", "After the kill"),
        ("assistant", "Fake reply."),
    ]
    check_history(
        history,
        succeeded=[seen_turn(first.json()), seen_turn(after.json())],
        sent=["Before the kill", "Killed mid-turn", "After the kill"],
    )
    prompt = [m["content"] for m in fake_openai.requests[-1].body["messages"]]
    assert prompt[-2:] == ["Killed mid-turn", "After the kill"]  # the model answered both, in order

    # The killed worker never recorded its message: the row counts the two answered turns only.
    assert session_counters(session_id)["message_count"] == 4
    workers = app.wait_for_workers(timeout=15)
    assert victim not in workers
    assert f"Child process [{victim}] died" in app.log_text()
    assert_clean_log(app, ["Killed mid-turn", alice.token])
