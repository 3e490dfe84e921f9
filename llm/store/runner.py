"""Running calls: one round trip is a `Send` of one or more calls: a non-transactional pipeline (each script is atomic
on its own), or an atomic one (MULTI/EXEC: no other client's command runs between its calls). `round_trip` is the one
way calls reach Redis: written once as a generator of Sends, it is driven by the sync runner (`run`, `run_all`,
llm/flow.py) or the async one (llm/flow.py), each performing a Send with `send` or `asend`. Not redis-py's
script-in-pipeline, which asks SCRIPT EXISTS first: one more round trip on every call.
"""

import asyncio
import contextlib
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio
from redis.exceptions import NoScriptError

from llm.errors import StoreUnavailable
from llm.store.scripts import Call


@dataclass(frozen=True, slots=True)
class Send:
    """One round trip to Redis. `durable`: the async runner finishes it even if its task is cancelled meanwhile (a
    reply is stored whole or not at all, and the lock is never released under a write in flight). `atomic`: in
    MULTI/EXEC."""

    calls: tuple[Call, ...]
    durable: bool = False
    atomic: bool = False


RoundTrip = Generator[Send, list[Any], list[Any]]


def round_trip(calls: Sequence[Call], *, durable: bool = False, atomic: bool = False) -> RoundTrip:
    """The results of `calls`, sent in one round trip; `atomic`, in MULTI/EXEC. If Redis lost its script cache: one
    more per script, and a call that found its script missing sent again (atomic: all of them, together)."""
    calls = tuple(calls)
    results = yield Send(calls, durable, atomic)
    missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
    for i in missing:
        script = calls[i].script
        assert script is not None
        yield Send((Call(("SCRIPT LOAD", script.source)),), durable)
        if not atomic:
            [results[i]] = yield Send((calls[i],), durable)
    if atomic and missing:
        # Together again, as the caller relies on: every script does its work once when sent again (scripts.py).
        results = yield Send(calls, durable, atomic)
    for result in results:
        if isinstance(result, redis.RedisError):
            raise _unavailable(result) from result
    return results


@contextlib.contextmanager
def unavailable() -> Iterator[None]:
    """Re-raise any Redis failure as StoreUnavailable: no `redis.*` exception leaves llm."""
    try:
        yield
    except redis.RedisError as exc:
        raise _unavailable(exc) from exc


def _unavailable(exc: redis.RedisError) -> StoreUnavailable:
    return StoreUnavailable(f"conversation store failed ({type(exc).__name__})")


def _pipeline(client: redis.Redis | redis.asyncio.Redis, step: Send) -> Any:
    pipe = client.pipeline(transaction=step.atomic)
    for call in step.calls:
        pipe.execute_command(*call.command)
    return pipe


def send(client: redis.Redis, step: Send) -> list[Any]:
    """Perform one Send on redis-py's sync client: the results, an exception in place of a command that failed."""
    with unavailable():
        return _pipeline(client, step).execute(raise_on_error=False)


async def asend(client: redis.asyncio.Redis, step: Send) -> list[Any]:
    """`send` on the asyncio client; a durable Send is awaited to its end even under cancellation (which is then
    raised again)."""
    with unavailable():
        sent = asyncio.ensure_future(_pipeline(client, step).execute(raise_on_error=False))
        if not step.durable:
            return await sent
        try:
            return await asyncio.shield(sent)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await sent
            raise


def run_all(client: redis.Redis, calls: Sequence[Call]) -> list[Any]:
    """Run `calls` in one round trip on the sync client, outside a flow."""
    trip, results = round_trip(calls), None
    while True:
        try:
            results = send(client, trip.send(results))
        except StopIteration as done:
            return done.value


def run(client: redis.Redis, call: Call) -> Any:
    """Run one call in one round trip on the sync client, outside a flow."""
    return run_all(client, (call,))[0]
