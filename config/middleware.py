"""Request id: taken from a well-formed `X-Request-ID` header or generated, logged on every line, echoed back."""

import re
import uuid

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from config.logging import request_id_var

_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        token = request_id_var.set(_request_id(request))
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id_var.get()
            return response
        finally:
            request_id_var.reset(token)

    async def _acall(self, request):
        token = request_id_var.set(_request_id(request))
        try:
            response = await self.get_response(request)
            response["X-Request-ID"] = request_id_var.get()
            return response
        finally:
            request_id_var.reset(token)


def _request_id(request) -> str:
    supplied = request.headers.get("X-Request-ID", "")
    return supplied if _VALID_ID.match(supplied) else uuid.uuid4().hex
