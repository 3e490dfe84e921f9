"""The one bridge between a streamed turn and its consumer (an SSE response, the `chat` command): the turn runs in
an asyncio task of its own, which the consumer only reads from, so a consumer that goes away (a client disconnect:
the iterator closed, or its task cancelled) neither stops nor loses it: the turn is completed and stored. Its
outcome is plain data the caller awaits (`TurnStream.outcome`), from a task of the caller's own when it must act on
it whether or not anyone still reads (chat records the activity so).

With `coalesce_seconds`, deltas are coalesced as they are handed on: the first goes to the consumer at once, and
after each one handed on, the text that arrives within the next `coalesce_seconds` goes as one delta at the end of
that window (or when the turn ends, whichever comes first). A consumer (an SSE response) then pays its cost per
event once per window instead of once per token, and the text is the same.
"""

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable

from llm.data import Delta, Turn
from llm.errors import LLMUnavailable

log = logging.getLogger("llm.turns")  # the logger of the turn it runs

# Streamed turns in flight, referenced here so that one whose consumer left is not garbage-collected.
_detached: set[asyncio.Task] = set()
_END = object()


class TurnStream:
    """A streamed turn, detached from its consumer. Iterating it gives the deltas `produce` hands on, then its
    Turn; with `idle_seconds`, a None whenever that long passes without a delta (a heartbeat); with
    `coalesce_seconds`, deltas coalesced (see the module docstring). `outcome()` is the turn's own result, whoever
    iterates. The turn starts with the first of either."""

    def __init__(
        self,
        produce: Callable[[Callable[[Delta], None]], Awaitable[Turn]],
        *,
        name: str,
        idle_seconds: float | None = None,
        coalesce_seconds: float | None = None,
    ) -> None:
        self._produce, self._name = produce, name
        self._idle_seconds, self._coalesce_seconds = idle_seconds, coalesce_seconds
        self._task: asyncio.Task[Turn] | None = None
        self._items: asyncio.Queue = asyncio.Queue()
        self._iterator: AsyncGenerator[Delta | Turn | None] | None = None

    async def outcome(self) -> Turn:
        """The stored Turn, or the LLMError the turn failed with; LLMUnavailable if its task was cancelled (the
        server is shutting down: what was generated is stored, interrupted, llm/turns.py)."""
        task = self._start()
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise  # the awaiting task itself is cancelled
            raise LLMUnavailable("The reply was interrupted before it was finished.") from None

    def __aiter__(self) -> "TurnStream":
        return self

    async def __anext__(self) -> Delta | Turn | None:
        if self._iterator is None:
            self._iterator = self._iterate()
        return await anext(self._iterator)

    async def aclose(self) -> None:
        """Stop reading (the turn carries on)."""
        if self._iterator is not None:
            await self._iterator.aclose()

    async def _iterate(self) -> AsyncIterator[Delta | Turn | None]:
        self._start()
        while (item := await _next(self._items, self._idle_seconds)) is not _END:
            yield item
        yield await self.outcome()

    def _start(self) -> "asyncio.Task[Turn]":
        if self._task is not None:
            return self._task
        deliver: Callable[[Delta], None] = self._items.put_nowait
        flush: Callable[[], None] = _nothing
        if self._coalesce_seconds:
            coalescer = _Coalescer(self._items.put_nowait, self._coalesce_seconds)
            deliver, flush = coalescer.put, coalescer.flush
        task = self._task = asyncio.create_task(self._produce(deliver), name=self._name)
        _detached.add(task)
        task.add_done_callback(_forget)
        task.add_done_callback(lambda _: (flush(), self._items.put_nowait(_END)))
        return task


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


def _forget(task: asyncio.Task) -> None:
    _detached.discard(task)
    if not task.cancelled() and (exc := task.exception()) is not None:
        # Retrieved here so a turn whose consumer left does not end as "exception never retrieved".
        log.info("streamed turn failed", extra={"error": getattr(exc, "code", type(exc).__name__)})
