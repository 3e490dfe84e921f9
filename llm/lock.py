"""The turn lock: one turn per session at a time, across threads, processes and hosts, served in arrival order.

A FIFO ticket lock in Redis, after Rasa's ticket lock. Each turn takes a ticket: a random token queued in a sorted set
under a number from a counter (INCR), with an expiry of its own in a hash. The lowest live ticket holds the lock.
A holder's ticket expires `hold` seconds after it got the lock; a waiter's a short grace after its last poll. Expired
tickets at the front are dropped by whoever meets them, so a killed worker blocks the session for at most `hold`.

The token is also a fencing token: every script that writes during a turn (llm/store) checks first that the token
is still first in line, and writes nothing otherwise. A holder's ticket whose expiry passed stays first until a
ticket behind it meets it expired and drops it: expiries are reckoned on Redis's wall clock, which a machine resumed
from a pause moves on by minutes at once, and a turn nobody queued behind must not lose its reply for that.

Uncontended, taking the lock is one round trip, and it carries the turn's first write too (`acquire_along`);
releasing it is part of the turn's last script, or one round trip on its own.

`acquire`, `acquire_along` and `release` are flows (llm/flow.py): run them with `flow.run` (sync) or `flow.arun`
(asyncio).
"""

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from llm import store
from llm.errors import SessionClosed, StoreUnavailable, TurnInProgress
from llm.flow import Flow, HoldLease, Sleep
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


def acquire(keys: LockKeys, *, hold_seconds: float, wait_seconds: float) -> Flow[Lease]:
    """Take the lock, waiting in line up to `wait_seconds`; TurnInProgress after that, SessionClosed once the session
    was ended or erased (by whoever held the lock before). Failing or cancelled while
    waiting, it withdraws its ticket (best effort: a ticket left behind expires after the waiter grace anyway)."""
    lease, _ = yield from acquire_along(keys, None, hold_seconds=hold_seconds, wait_seconds=wait_seconds)
    return lease


def acquire_along(
    keys: LockKeys, along: Callable[[Lease], store.Call] | None, *, hold_seconds: float, wait_seconds: float
) -> Flow[tuple[Lease, Any]]:
    """`acquire`, sending `along(lease)` with the first try, in the same round trip and atomically right after it:
    the lease and the call's answer if that try took the lock, else None. `along` must be fenced by the lease's token
    (a script that writes nothing unless the token holds the lock, llm/store): refused when the lock was not taken,
    it wrote nothing, and is the caller's to send again once `acquire_along` returns."""
    lease = Lease(keys, uuid4().hex)
    call = store.lock_try_call(
        keys, token=lease.token, hold_seconds=hold_seconds, grace_seconds=min(_WAITER_GRACE_SECONDS, hold_seconds)
    )
    first = (call,) if along is None else (call, along(lease))
    wait = _Wait(wait_seconds)
    try:
        held, *answer = yield from store.round_trip(first, atomic=along is not None)
        along_answer = answer[0] if held == 1 and answer else None
        while held != 1:
            if held == -1:
                raise SessionClosed()
            delay = wait.next_delay()
            if delay is None:
                raise TurnInProgress()
            yield Sleep(delay)
            [held] = yield from store.round_trip((call,))
    except GeneratorExit:
        raise
    except BaseException:
        yield from release_quietly(lease)
        raise
    return lease, along_answer


def hold(lease: Lease, *, hold_seconds: float, deadline_seconds: float) -> HoldLease:
    """The step that keeps `lease` for the rest of a flow: renewed every third of `hold_seconds` by the process's
    renewer (llm/renewal.py) until the flow ends, and no model call past `deadline_seconds` (see llm/flow.py)."""
    renew = store.lock_renew_call(lease.keys, token=lease.token, hold_seconds=hold_seconds)
    return HoldLease(renew, every=hold_seconds / 3, deadline_seconds=deadline_seconds)


def release(lease: Lease) -> Flow[None]:
    """Give the lock (or a place in line) back. Idempotent."""
    yield from store.round_trip((store.lock_release_call(lease.keys, token=lease.token),))


def release_quietly(lease: Lease) -> Flow[None]:
    """`release`, where a failure to reach Redis must not hide the error being raised (the ticket expires anyway)."""
    with contextlib.suppress(StoreUnavailable):
        yield from release(lease)
