"""Server-Sent Events for a streamed turn: `delta` events `{text}` as the model produces them, then one `done`
event holding the turn or one `error` event holding a problem; `: ping` comments keep idle connections alive.
"""

import json
from collections.abc import AsyncIterator

from django.http import StreamingHttpResponse

from chat.errors import model_failure_problem, problem_for
from chat.serializers import TurnOut, rendered
from llm.services import Delta, ModelError, Turn

CONTENT_TYPE = "text/event-stream"
HEARTBEAT = b": ping\n\n"


def turn_event_response(items: AsyncIterator[Delta | Turn | None], *, retry_hint: str) -> StreamingHttpResponse:
    """A streaming response over a turn's items, a None among them being a heartbeat (chat.turns.turn_send_stream
    with `idle_seconds`). Served by an ASGI server, the iteration runs on the event loop and stops (cancelled) when
    the client disconnects; the turn itself carries on (see llm.services.turn_reply_stream)."""
    response = StreamingHttpResponse(_turn_events(items, retry_hint=retry_hint), content_type=CONTENT_TYPE)
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx would otherwise buffer the stream until it ends
    return response


def event(name: str, data: object) -> bytes:
    """One SSE event; JSON data has no raw newlines, so it always fits on one `data:` line."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {name}\ndata: {payload}\n\n".encode()


async def _turn_events(items: AsyncIterator[Delta | Turn | None], *, retry_hint: str) -> AsyncIterator[bytes]:
    try:
        async for item in items:
            if item is None:
                yield HEARTBEAT
            elif isinstance(item, Delta):
                yield event("delta", {"text": item.text})
            else:
                yield event("done", rendered(TurnOut, item))
    except ModelError as exc:
        yield event("error", problem_for(model_failure_problem(exc, retry_hint=retry_hint)).body())
    except Exception as exc:  # the stream has started: an error event is the only way to say it
        yield event("error", problem_for(exc).body())
