"""The request throttle: every customer request that is not a turn counts against THROTTLE_REQUESTS_PER_MINUTE,
in Redis through `llm.request_admit` (shared by every process, one round trip). Turns keep their own admission
(`llm.turn_admit`: turns per minute and the daily token quota), so a warm turn makes no extra round trip.

Refused: 429 `throttled` with Retry-After. Redis down: StoreUnavailable, 503 `service_unavailable` (fail closed, as
turns do: without the shared counters nothing is admitted)."""

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from llm import services as llm
from llm.services import RequestRateLimited


class CustomerRequestThrottle(BaseThrottle):
    """Runs after authentication and permissions (DRF's order), so the caller is a customer."""

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        if request.method in getattr(view, "turn_methods", ()):
            return True
        try:
            llm.request_admit(customer_id=request.user.customer_id)
        except RequestRateLimited as exc:
            self._wait = exc.retry_after
            return False
        return True

    def wait(self) -> float | None:
        return self._wait
