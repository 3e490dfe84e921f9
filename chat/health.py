"""Liveness and readiness probes: plain JSON, no authentication."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from customers import services as customers
from llm import services as llm


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
    ready = all(check.ok for check in checks.values())
    body = {
        "status": "ok" if ready else "unavailable",
        "checks": {name: {"ok": check.ok, "detail": check.detail} for name, check in checks.items()},
    }
    return JsonResponse(body, status=200 if ready else 503)
