"""The one bridge between a streamed turn and its consumer (an SSE response, the `chat` command): the turn runs in
an asyncio task of its own, which the consumer only reads from, so a consumer that goes away (a client disconnect:
the iterator closed, or its task cancelled) neither stops nor loses it. The turn is completed, stored, and settled:
`settle`, the caller's own last step (chat records the activity), runs in the same task, before the consumer hears
the outcome.

With `coalesce_seconds`, deltas are coalesced as they are handed on: the first goes to the consumer at once, and
after each one handed on, the text that arrives within the next `coalesce_seconds` goes as one delta at the end of
that window (or when the turn ends, whichever comes first). A consumer (an SSE response) then pays its cost per
event once per window instead of once per token, and the text is the same.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from llm.data import Delta, Turn
from llm.errors import LLMError, LLMUnavailable

log = logging.getLogger("llm.turns")  # the logger of the turn it runs

T = TypeVar("T")
Settle = Callable[[Turn | LLMError], Awaitable[Turn | None]]  # a Turn: the turn as the consumer gets it

# Streamed turns in flight, referenced here so that one whose consumer left is not garbage-collected.
_detached: set[asyncio.Task] = set()
_END = object()


async def detached(
    produce: Callable[[Callable[[Delta], None]], Awaitable[Turn]],
    *,
    name: str,
    settle: Settle | None = None,
    idle_seconds: float | None = None,
    coalesce_seconds: float | None = None,
) -> AsyncIterator[Delta | Turn | None]:
    """The deltas `produce` hands on, then its Turn; with `idle_seconds`, a None whenever that long passes without
    a delta (a heartbeat); with `coalesce_seconds`, deltas coalesced (see the module docstring). `produce` runs in a
    task of its own, and `settle` after it, with its Turn or its LLMError; what `settle` raises is what the consumer
    gets instead. If that task is cancelled (the server is shutting down), the consumer gets LLMUnavailable."""
    items: asyncio.Queue = asyncio.Queue()
    deliver: Callable[[Delta], None] = items.put_nowait
    flush: Callable[[], None] = _nothing
    if coalesce_seconds:
        coalescer = _Coalescer(items.put_nowait, coalesce_seconds)
        deliver, flush = coalescer.put, coalescer.flush
    task = asyncio.create_task(_settled(produce(deliver), settle), name=name)
    _detached.add(task)
    task.add_done_callback(_forget)
    task.add_done_callback(lambda _: (flush(), items.put_nowait(_END)))
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


class _Coalescer:
    """Hands deltas on at most once per window: the first at once, then what arrived within the window after each
    one handed on, joined, when the window ends (one timer per window, none per token)."""

    __slots__ = ("_buffer", "_loop", "_next_at", "_put", "_timer", "_window")

    def __init__(self, put: Callable[[Delta], None], window: float) -> None:
        self._put, self._window = put, window
        self._loop = asyncio.get_running_loop()
        self._buffer: list[str] = []
        self._next_at = 0.0  # the end of the window opened by the last delta handed on
        self._timer: asyncio.TimerHandle | None = None

    def put(self, delta: Delta) -> None:
        if self._timer is not None:  # a window is open and already holds text
            self._buffer.append(delta.text)
            return
        now = self._loop.time()
        if now >= self._next_at:
            self._put(delta)
            self._next_at = now + self._window
        else:
            self._buffer.append(delta.text)
            self._timer = self._loop.call_at(self._next_at, self.flush)

    def flush(self) -> None:
        """Hand on what the open window holds (at its end, or when the turn ends)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._buffer:
            text, self._buffer = "".join(self._buffer), []
            self._put(Delta(text))
            self._next_at = self._loop.time() + self._window


def _nothing() -> None:
    pass


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
            settled = await settle(result)
        except Exception as exc:
            return result, exc
        return settled or result, None
    return result, None


def _forget(task: asyncio.Task) -> None:
    _detached.discard(task)
    if not task.cancelled() and (exc := task.exception()) is not None:
        # Retrieved here so a turn whose consumer left does not end as "exception never retrieved".
        log.info("streamed turn failed", extra={"error": getattr(exc, "code", type(exc).__name__)})
