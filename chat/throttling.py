"""The request throttle: every customer request that is not a turn counts against THROTTLE_REQUESTS_PER_MINUTE,
in Redis through `llm.request_admit` (shared by every process, one round trip). Turns keep their own admission
(`llm.turn_admit`: turns per minute and the daily token quota), so a warm turn makes no extra round trip.

Refused: 429 `throttled` with Retry-After. Redis down: the request goes on uncounted (a warning is logged), so that
what needs only PostgreSQL (auth, profiles, the session list, opening a session) keeps answering through an outage,
as docs/reliability.md promises; everything that needs Redis fails closed on its own (turns and an end's summary call
at their admission, moods and live messages at their store), so nothing costly passes uncounted."""

import logging
from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from llm import services as llm
from llm.services import RequestRateLimited, StoreUnavailable

logger = logging.getLogger(__name__)


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
        except StoreUnavailable:
            logger.warning("request_not_counted", extra={"reason": "store_unavailable"})
        return True

    def wait(self) -> float | None:
        return self._wait
