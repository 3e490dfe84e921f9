"""Request id and access log: the id is taken from a well-formed `X-Request-ID` header or generated, put on every
log line of the request, echoed back, and one structured access line is logged per request.
"""

import logging
import re
import time
import uuid

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from config.logging import request_id_var

logger = logging.getLogger("access")

_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    # The id is not reset on the way out: Django logs failed responses (django.request) after the middleware
    # chain returns, and those lines need it too. Every request sets its own id first, so none leaks into another.
    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        started = _begin(request)
        response = self.get_response(request)
        return _finish(request, response, started)

    async def _acall(self, request):
        started = _begin(request)
        response = await self.get_response(request)
        return _finish(request, response, started)


def _begin(request) -> float:
    supplied = request.headers.get("X-Request-ID", "")
    request_id_var.set(supplied if _VALID_ID.match(supplied) else uuid.uuid4().hex)
    return time.perf_counter()


def _finish(request, response, started: float):
    response["X-Request-ID"] = request_id_var.get()
    # The path only, never the query string; streamed responses log when their headers are sent.
    logger.info(
        "request",
        extra={
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
    return response
