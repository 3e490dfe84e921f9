"""The turn lock: FIFO across threads and processes, bounded waits, expiry of dead holders, fencing of stale ones."""

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from llm import flow, lock, services, store
from llm.data import Message
from llm.errors import TurnInProgress
from llm.redis import async_client, sync_client
from tests.llm.contexts import alice
from tests.llm.support import count_round_trips, raw_redis, run_async

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def keys():
    return store.session_keys(uuid4())


def _wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def _acquire(keys, *, hold: float = 10, wait: float = 5) -> lock.Lease:
    return flow.run(sync_client(), lock.acquire(keys.lock, hold_seconds=hold, wait_seconds=wait))


def _release(lease: lock.Lease) -> None:
    flow.run(sync_client(), lock.release(lease))


def test_an_uncontended_acquire_is_one_round_trip_and_its_keys_expire(keys):
    _release(_acquire(keys))  # the scripts are loaded
    with count_round_trips() as trips:
        _acquire(keys)
    assert trips.count == 1
    assert all(ttl > 0 for ttl in map(raw_redis().pttl, keys.lock.all))


def test_waiters_get_the_lock_in_arrival_order(keys):
    holder = _acquire(keys)
    order: list[int] = []

    def turn(i: int) -> None:
        lease = _acquire(keys)
        order.append(i)
        time.sleep(0.01)
        _release(lease)

    threads = []
    for i in range(6):
        threads.append(threading.Thread(target=turn, args=(i,)))
        threads[-1].start()
        _wait_until(lambda i=i: raw_redis().zcard(keys.lock.queue) == i + 2)  # queued behind the ones before
    _release(holder)
    for thread in threads:
        thread.join(timeout=10)
    assert order == list(range(6))


def test_a_waiter_gives_up_after_the_wait_bound_and_withdraws_its_ticket(keys):
    _acquire(keys)
    started = time.monotonic()
    with pytest.raises(TurnInProgress):
        _acquire(keys, wait=0.2)
    assert 0.2 <= time.monotonic() - started < 1
    assert raw_redis().zcard(keys.lock.queue) == 1


def test_a_waiter_that_died_in_line_is_skipped_after_its_grace(keys):
    holder = _acquire(keys)
    ghost = store.lock_try_call(keys.lock, token="ghost", hold_seconds=10, grace_seconds=0.3)
    assert store.run(sync_client(), ghost) == 0  # queued, and never polls again
    threading.Timer(0.05, _release, (holder,)).start()
    started = time.monotonic()
    _acquire(keys, wait=3)
    assert time.monotonic() - started < 1


def test_a_holder_whose_ticket_expired_can_no_longer_write(keys):
    cfg = services.get_settings()
    stale = _acquire(keys, hold=0.3)
    user = Message(id=uuid4().hex, seq=0, role="user", content="hi", tokens=5, created_at=datetime.now(UTC))
    time.sleep(0.35)
    fresh = _acquire(keys, wait=1)  # the expired ticket is skipped at once
    begin = store.begin_call(keys, cfg, token=stale.token, user=user, tail_budget=100, tail_limit=10, idem=None)
    with pytest.raises(TurnInProgress):
        store.parse_begin(store.run(sync_client(), begin))
    assert raw_redis().llen(keys.messages) == 0
    fresh_begin = store.begin_call(keys, cfg, token=fresh.token, user=user, tail_budget=100, tail_limit=10, idem=None)
    assert store.parse_begin(store.run(sync_client(), fresh_begin)).user_seq == 1


def test_a_killed_holder_blocks_the_session_no_longer_than_the_lock_ttl(settings):
    settings.TURN_LOCK_TTL_SECONDS = 1
    settings.TURN_LOCK_WAIT_SECONDS = 0
    session_id = uuid4()
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, uuid\n"
            "from llm import flow, lock, store\n"
            "from llm.conf import get_settings\n"
            "from llm.redis import sync_client\n"
            "keys = store.session_keys(uuid.UUID(sys.argv[1]))\n"
            "flow.run(sync_client(), lock.acquire(keys.lock, hold_seconds=get_settings().turn_lock_ttl_seconds,"
            " wait_seconds=5))\n"
            "print('held', flush=True)\n"
            "time.sleep(60)\n",
            str(session_id),
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "TEST_REDIS_URL": settings.REDIS_URL,
            "TURN_LOCK_TTL_SECONDS": "1",
        },
        stdout=subprocess.PIPE,
    ) as holder:
        try:
            assert holder.stdout.readline() == b"held\n"
            with pytest.raises(TurnInProgress):  # held for real
                services.turn_reply(session_id=session_id, text="Hello?", context=alice())
        finally:
            holder.kill()  # SIGKILL: no chance to release anything
    settings.TURN_LOCK_WAIT_SECONDS = 2
    started = time.monotonic()
    turn = services.turn_reply(session_id=session_id, text="Hello?", context=alice())
    assert time.monotonic() - started < 1.5
    assert (turn.user_message.seq, turn.assistant_message.seq) == (1, 2)


def test_the_async_lock_shares_the_queue_and_withdraws_a_cancelled_waiter(keys):
    async def scenario() -> None:
        client = async_client()
        holder = await flow.arun(client, lock.acquire(keys.lock, hold_seconds=10, wait_seconds=1))
        waiter = asyncio.create_task(flow.arun(client, lock.acquire(keys.lock, hold_seconds=10, wait_seconds=5)))
        while raw_redis().zcard(keys.lock.queue) < 2:
            await asyncio.sleep(0.005)
        with pytest.raises(TurnInProgress):  # the sync lock waits in the same line
            await asyncio.to_thread(_acquire, keys, wait=0.1)
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
        assert raw_redis().zcard(keys.lock.queue) == 1
        await flow.arun(client, lock.release(holder))

    run_async(scenario())
    assert raw_redis().zcard(keys.lock.queue) == 0
