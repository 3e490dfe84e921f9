"""The turn lock: one turn per session at a time, across threads, processes and hosts, served in arrival order.

A FIFO ticket lock in Redis, after Rasa's ticket lock. Each turn takes a ticket: a random token queued in a sorted set
under a number from a counter (INCR), with an expiry of its own in a hash. The lowest live ticket holds the lock.
A holder's ticket expires `hold` seconds after it got the lock; a waiter's a short grace after its last poll. Expired
tickets at the front are dropped by whoever meets them, so a killed worker blocks the session for at most `hold`.

The token is also a fencing token: every script that writes during a turn (llm/store.py) checks first that the token
is still the live head, and writes nothing otherwise. Uncontended, taking the lock is one round trip; releasing it is
part of the turn's last script, or one round trip on its own.
"""

import asyncio
import contextlib
import time
from dataclasses import dataclass
from uuid import uuid4

import redis
import redis.asyncio

from llm import store
from llm.errors import StoreUnavailable, TurnInProgress
from llm.store import LockKeys

_FIRST_POLL_SECONDS = 0.005
_MAX_POLL_SECONDS = 0.05
# A waiter polls at least every _MAX_POLL_SECONDS; one silent for this long is taken for dead.
_WAITER_GRACE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Lease:
    """A held turn lock. `token` is what write scripts check (fencing)."""

    keys: LockKeys
    token: str


class _Wait:
    """Polling pace and the deadline of one wait for the lock."""

    def __init__(self, wait_seconds: float) -> None:
        self._deadline = time.monotonic() + wait_seconds
        self._delay = _FIRST_POLL_SECONDS

    def next_delay(self) -> float | None:
        """Seconds to sleep before the next poll, or None when the wait is over."""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            return None
        delay, self._delay = min(self._delay, remaining), min(self._delay * 2, _MAX_POLL_SECONDS)
        return delay


def _try_call(keys: LockKeys, token: str, hold_seconds: float) -> store.Call:
    return store.lock_try_call(
        keys, token=token, hold_seconds=hold_seconds, grace_seconds=min(_WAITER_GRACE_SECONDS, hold_seconds)
    )


def acquire(client: redis.Redis, keys: LockKeys, *, hold_seconds: float, wait_seconds: float) -> Lease:
    """Take the lock, waiting in line up to `wait_seconds`; TurnInProgress after that (the ticket is withdrawn)."""
    lease = Lease(keys, uuid4().hex)
    call = _try_call(keys, lease.token, hold_seconds)
    wait = _Wait(wait_seconds)
    try:
        while not store.run(client, call):
            delay = wait.next_delay()
            if delay is None:
                raise TurnInProgress()
            time.sleep(delay)
    except BaseException:
        _withdraw(client, lease)
        raise
    return lease


async def aacquire(client: redis.asyncio.Redis, keys: LockKeys, *, hold_seconds: float, wait_seconds: float) -> Lease:
    """`acquire` for the asyncio client. Cancelled while waiting, it withdraws its ticket."""
    lease = Lease(keys, uuid4().hex)
    call = _try_call(keys, lease.token, hold_seconds)
    wait = _Wait(wait_seconds)
    try:
        while not await store.arun(client, call):
            delay = wait.next_delay()
            if delay is None:
                raise TurnInProgress()
            await asyncio.sleep(delay)
    except BaseException:
        await _awithdraw(client, lease)
        raise
    return lease


def release(client: redis.Redis, lease: Lease) -> None:
    """Give the lock (or a place in line) back. Idempotent."""
    store.run(client, store.lock_release_call(lease.keys, token=lease.token))


async def arelease(client: redis.asyncio.Redis, lease: Lease) -> None:
    """`release` for the asyncio client."""
    await store.arun(client, store.lock_release_call(lease.keys, token=lease.token))


def _withdraw(client: redis.Redis, lease: Lease) -> None:
    # Best effort: a ticket left behind expires after the waiter grace anyway.
    with contextlib.suppress(StoreUnavailable):
        release(client, lease)


async def _awithdraw(client: redis.asyncio.Redis, lease: Lease) -> None:
    with contextlib.suppress(StoreUnavailable):
        await arelease(client, lease)
