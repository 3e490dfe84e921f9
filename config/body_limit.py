"""A bound on request bodies at the ASGI edge, in front of Django.

Django's ASGI handler reads a whole request body (spooling it to disk past FILE_UPLOAD_MAX_MEMORY_SIZE) before any
middleware, authentication or view runs, so its own DATA_UPLOAD_MAX_MEMORY_SIZE check comes too late to protect the
disk: an anonymous chunked POST of a gigabyte would be written out first. This middleware refuses such a body before
Django sees it: at once when its `Content-Length` is over the limit, and while a chunked body streams in as soon as
the bytes received pass it. The answer is the API's 413 problem (`message_too_long`) with `Connection: close`; the
server then closes the connection, so the rest of the body is never read.
"""

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from chat.errors import PROBLEM_CONTENT_TYPE, Problem

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_DISCONNECT: Message = {"type": "http.disconnect"}


class BodyLimitMiddleware:
    """Wraps an ASGI app; `limit` is the largest body accepted, in bytes (None: no limit)."""

    def __init__(self, app: ASGIApp, *, limit: int | None) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.limit is None:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await self._refuse(scope, send)
            return
        await self.app(scope, _Counted(self, scope, receive, send), send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        logger.warning(
            "request body too large",
            extra={"method": scope.get("method", ""), "path": scope.get("path", ""), "limit": self.limit},
        )
        problem = Problem("message_too_long", f"The request body is larger than {self.limit} bytes.")
        body = json.dumps(problem.body(), separators=(",", ":")).encode()
        headers = [
            (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _Counted:
    """The app's `receive`: counts body bytes; past the limit it answers 413 itself and tells the app that the
    client went away (Django then drops the request quietly, as for any early disconnect)."""

    def __init__(self, middleware: BodyLimitMiddleware, scope: Scope, receive: Receive, send: Send) -> None:
        self._middleware, self._scope, self._receive, self._send = middleware, scope, receive, send
        self._received = 0
        self._refused = False

    async def __call__(self) -> Message:
        if self._refused:
            return _DISCONNECT
        message = await self._receive()
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            limit = self._middleware.limit
            if limit is not None and self._received > limit:
                self._refused = True
                await self._middleware._refuse(self._scope, self._send)
                return _DISCONNECT
        return message


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the ASGI server refuses a malformed length before it gets here
    return None
