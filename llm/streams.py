"""The one bridge between a streamed turn and its consumer (an SSE response, the `chat` command): the turn runs in
an asyncio task of its own, which the consumer only reads from, so a consumer that goes away (a client disconnect:
the iterator closed, or its task cancelled) neither stops nor loses it. The turn is completed, stored, and settled:
`settle`, the caller's own last step (chat records the activity), runs in the same task, before the consumer hears
the outcome.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from llm.data import Delta, Turn
from llm.errors import LLMError, LLMUnavailable

log = logging.getLogger("llm.turns")  # the logger of the turn it runs

T = TypeVar("T")
Settle = Callable[[Turn | LLMError], Awaitable[None]]

# Streamed turns in flight, referenced here so that one whose consumer left is not garbage-collected.
_detached: set[asyncio.Task] = set()
_END = object()


async def detached(
    produce: Callable[[Callable[[Delta], None]], Awaitable[Turn]],
    *,
    name: str,
    settle: Settle | None = None,
    idle_seconds: float | None = None,
) -> AsyncIterator[Delta | Turn | None]:
    """The deltas `produce` hands on, then its Turn; with `idle_seconds`, a None whenever that long passes without
    a delta (a heartbeat). `produce` runs in a task of its own, and `settle` after it, with its Turn or its LLMError;
    what `settle` raises is what the consumer gets instead. If that task is cancelled (the server is shutting down),
    the consumer gets LLMUnavailable."""
    items: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(_settled(produce(items.put_nowait), settle), name=name)
    _detached.add(task)
    task.add_done_callback(_forget)
    task.add_done_callback(lambda _: items.put_nowait(_END))
    while (item := await _next(items, idle_seconds)) is not _END:
        yield item
    try:
        turn, refused = await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.cancelled():
            raise  # the consumer itself is cancelled
        # The turn's task was cancelled: what was generated is stored, interrupted (llm/turns.py).
        raise LLMUnavailable("The reply was interrupted before it was finished.") from None
    if refused is not None:
        raise refused
    yield turn


async def _next(items: asyncio.Queue, idle_seconds: float | None) -> object:
    if idle_seconds is None:
        return await items.get()
    try:
        return await asyncio.wait_for(items.get(), idle_seconds)
    except TimeoutError:
        return None  # a heartbeat; the item still to come stays in the queue


async def _settled(turn: Awaitable[Turn], settle: Settle | None) -> tuple[Turn, Exception | None]:
    """The turn, and what settling it raised: the turn itself was stored, so the task does not fail for that (the
    consumer, if still there, gets the error; the caller logs its own failure)."""
    try:
        result = await turn
    except LLMError as exc:
        if settle is not None:
            await settle(exc)
        raise
    if settle is not None:
        try:
            await settle(result)
        except Exception as exc:
            return result, exc
    return result, None


def _forget(task: asyncio.Task) -> None:
    _detached.discard(task)
    if not task.cancelled() and (exc := task.exception()) is not None:
        # Retrieved here so a turn whose consumer left does not end as "exception never retrieved".
        log.info("streamed turn failed", extra={"error": getattr(exc, "code", type(exc).__name__)})
