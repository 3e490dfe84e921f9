"""Server-Sent Events for a streamed turn: `delta` events `{text}` as the model produces them, then one `done`
event holding the turn or one `error` event holding a problem; `: ping` comments keep idle connections alive.
"""

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator

from django.conf import settings
from django.http import StreamingHttpResponse

from chat.errors import model_failure_problem, problem_for
from chat.serializers import TurnOut
from llm.data import Delta, Turn
from llm.errors import ModelError

CONTENT_TYPE = "text/event-stream"
HEARTBEAT = b": ping\n\n"


def turn_event_response(items: AsyncGenerator[Delta | Turn], *, retry_hint: str) -> StreamingHttpResponse:
    """A streaming response over a turn's items. Served by an ASGI server, the iteration runs on the event loop
    and stops (cancelled) when the client disconnects; the turn itself carries on (see chat.turns)."""
    response = StreamingHttpResponse(_turn_events(items, retry_hint=retry_hint), content_type=CONTENT_TYPE)
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx would otherwise buffer the stream until it ends
    return response


def event(name: str, data: object) -> bytes:
    """One SSE event; JSON data has no raw newlines, so it always fits on one `data:` line."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {name}\ndata: {payload}\n\n".encode()


async def _turn_events(items: AsyncGenerator[Delta | Turn], *, retry_hint: str) -> AsyncIterator[bytes]:
    try:
        async for item in with_heartbeats(items, interval=settings.CHAT_SSE_HEARTBEAT_SECONDS):
            if item is None:
                yield HEARTBEAT
            elif isinstance(item, Delta):
                yield event("delta", {"text": item.text})
            else:
                yield event("done", TurnOut(item).data)
    except ModelError as exc:
        yield event("error", problem_for(model_failure_problem(exc, retry_hint=retry_hint)).body())
    except Exception as exc:  # the stream has started: an error event is the only way to say it
        yield event("error", problem_for(exc).body())


async def with_heartbeats(items: AsyncGenerator, *, interval: float) -> AsyncIterator:
    """The items of `items`, with a None whenever `interval` seconds pass without one.

    Waiting never cancels the pending `anext` (that would abort the source); it is cancelled only when this
    generator itself is (the client went away)."""
    iterator = aiter(items)
    pending: asyncio.Task | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            done, _ = await asyncio.wait({pending}, timeout=interval)
            if not done:
                yield None
                continue
            task, pending = pending, None
            try:
                item = task.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        if pending is not None:
            pending.cancel()
            await asyncio.wait({pending})
            if not pending.cancelled():
                pending.exception()  # retrieved: asyncio must not report it as lost
        with contextlib.suppress(RuntimeError):  # an async generator still running on the cancelled anext
            await iterator.aclose()
