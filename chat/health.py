"""Liveness and readiness probes: plain JSON, no authentication.

Readiness says ok or failing per dependency and nothing more: what failed and why (exception types, the model's
name) goes to the log, and to a signed-in staff user (the admin's session), never to anyone who asks.

The checks ping the database and Redis, so a process reuses its last result for READYZ_CACHE_SECONDS (1 s): a
flood of probes costs each process one check a second, and one log line per failing check, whatever its rate.
Concurrent probes of a process wait for the one check in flight. A changed setting (tests) forgets the result.
"""

import logging
import threading
import time

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from customers import services as customers
from llm import services as llm

logger = logging.getLogger(__name__)


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive and serving; touches nothing else."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Each dependency reported on its own; 503 when any is not ready."""
    checks = _checks()
    ready = all(check.ok for check in checks.values())
    staff = request.user.is_authenticated and request.user.is_staff
    body = {
        "status": "ok" if ready else "unavailable",
        "checks": {
            name: {"ok": check.ok, "detail": check.detail} if staff else {"ok": check.ok}
            for name, check in checks.items()
        },
    }
    return JsonResponse(body, status=200 if ready else 503)


_checked: tuple[float, dict] | None = None  # (monotonic time, checks) of this process's last check
_check_lock = threading.Lock()


def _checks() -> dict:
    """The dependencies' health, checked at most once per READYZ_CACHE_SECONDS by this process."""
    global _checked
    with _check_lock:
        if _checked is not None and time.monotonic() - _checked[0] < settings.READYZ_CACHE_SECONDS:
            return _checked[1]
        checks = {
            "database": customers.database_health(),
            "redis": llm.store_health(),
            "llm": llm.provider_health(),
        }
        for name, check in checks.items():
            if not check.ok:
                logger.warning("readiness check failed", extra={"dependency": name, "detail": check.detail})
        _checked = (time.monotonic(), checks)
        return checks


@receiver(setting_changed)
def _forget_checks(**kwargs: object) -> None:
    global _checked
    _checked = None
