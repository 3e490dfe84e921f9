"""Liveness and readiness probes: plain JSON, no authentication.

Readiness says ok or failing per dependency and nothing more: what failed and why (exception types, the model's
name) goes to the log, and to a signed-in staff user (the admin's session), never to anyone who asks.
"""

import logging

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
    checks = {
        "database": customers.database_health(),
        "redis": llm.store_health(),
        "llm": llm.provider_health(),
    }
    for name, check in checks.items():
        if not check.ok:
            logger.warning("readiness check failed", extra={"dependency": name, "detail": check.detail})
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
