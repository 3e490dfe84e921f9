"""Every error from `/api/` as an RFC 9457 problem (`application/problem+json`): `{type, title, status, detail, code}`.

`code` is the stable, machine-readable part; `type` is `https://chatbot.example/problems/<code>` (an identifier, not
a page that must resolve). One DRF exception handler and the Django `handler404`/`handler500` views in `config.urls`
render them, so no path under `/api/` answers with HTML or a traceback. Codes, statuses, titles and public texts
are those of the registry, `chat.problems`.
"""

import json
import logging
import math
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf

from chat.problems import DATABASE_UNAVAILABLE, MESSAGE_SAVED, PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, PROBLEMS
from customers.services import CustomersError
from llm.services import LLMError

logger = logging.getLogger(__name__)


class ChatError(Exception):
    """An error of the chat app with a stable `code` (a key of PROBLEMS) and a detail safe to show the client."""

    def __init__(self, code: str, detail: str = "", *, retry_after: float | None = None) -> None:
        if code not in PROBLEMS:
            raise ValueError(f"unknown problem code {code!r}")
        self.code = code
        self.detail = detail or PROBLEMS[code].title
        self.retry_after = retry_after
        super().__init__(self.detail)


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem response: its body is built from `code` (type, title, default status) and `detail`."""

    code: str
    detail: str
    status: int = 0  # 0: the code's own status
    headers: dict[str, str] = field(default_factory=dict)
    errors: dict | list | None = None

    @classmethod
    def of(cls, code: str, **fields: object) -> "Problem":
        """The problem of `code` with its registered public text as the detail."""
        return cls(code, PROBLEMS[code].detail, **fields)

    @property
    def http_status(self) -> int:
        return self.status or PROBLEMS[self.code].status

    def body(self) -> dict:
        data = {
            "type": f"{PROBLEM_TYPE_BASE}{self.code}",
            "title": PROBLEMS[self.code].title,
            "status": self.http_status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.errors is not None:
            data["errors"] = self.errors
        return data

    def response(self) -> HttpResponse:
        content = json.dumps(self.body(), ensure_ascii=False, separators=(",", ":"))
        return HttpResponse(
            content, status=self.http_status, content_type=PROBLEM_CONTENT_TYPE, headers=self.headers or None
        )


def problem_for(exc: BaseException) -> Problem:
    """The problem an exception answers with. Unknown exceptions become a bare 500 (logged by type only)."""
    if isinstance(exc, ChatError):
        return Problem(exc.code, exc.detail, headers=_retry_after(exc.retry_after))
    if isinstance(exc, LLMError | CustomersError):
        return _domain_problem(exc)
    if isinstance(exc, drf.APIException):
        return _drf_problem(exc)
    if isinstance(exc, RequestDataTooBig):  # Django refuses it from Content-Length before reading the body
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Problem("message_too_long", f"The request body is larger than {limit} bytes.")
    if isinstance(exc, Http404):
        return Problem.of("not_found")
    if isinstance(exc, DjangoPermissionDenied):
        return Problem.of("permission_denied")
    logger.error("unhandled_exception", exc_info=exc)
    return Problem.of("internal_error")


def model_failure_problem(exc: LLMError, *, retry_hint: str) -> ChatError:
    """A model failure during a turn, saying that the customer's message was kept and how to get a reply."""
    problem = PROBLEMS.get(exc.code)
    public = problem.detail if problem is not None and problem.fixed else exc.detail
    detail = MESSAGE_SAVED.format(detail=public, retry_hint=retry_hint)
    return ChatError(exc.code, detail, retry_after=getattr(exc, "retry_after", None))


def exception_handler(exc: Exception, context: dict) -> HttpResponse:
    """DRF's EXCEPTION_HANDLER: every exception raised in an API view becomes a problem response."""
    return problem_for(exc).response()


# --- Django's error views, for paths that never reach a DRF view --------------------------------------------


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return Problem("invalid_request", "The request could not be understood.").response()
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return Problem.of("permission_denied").response()
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return Problem.of("not_found").response()
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return Problem.of("internal_error").response()
    return defaults.server_error(request)


# CSRF-exempt: it changes nothing, and CsrfViewMiddleware would otherwise answer an unknown path with an unsafe
# method (e.g. POST /api/v1/sessions/abc/messages) with its HTML 403 page before this view runs.
@csrf_exempt
def api_not_found(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    """Catch-all for unknown `/api/v1/` paths: a problem even with DEBUG on (where `handler404` is not used)."""
    return Problem.of("not_found").response()


# --- mapping ------------------------------------------------------------------------------------------------


def _retry_after(seconds: float | None) -> dict[str, str]:
    if seconds is None:
        return {}
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def _domain_problem(exc: LLMError | CustomersError) -> Problem:
    """By the error's stable `code`: the registered status and title, and the error's own text unless the code's
    public text is fixed. `customers`' service_unavailable is always the database, and says so."""
    problem = PROBLEMS.get(exc.code)
    if problem is None:
        logger.error("unmapped_domain_error", exc_info=exc)
        return Problem.of("internal_error")
    if isinstance(exc, CustomersError) and exc.code == "service_unavailable":
        detail = DATABASE_UNAVAILABLE
    elif problem.fixed:
        detail = problem.detail
    else:
        detail = getattr(exc, "detail", "") or str(exc) or problem.title
    return Problem(exc.code, detail, headers=_retry_after(getattr(exc, "retry_after", None)))


def _drf_problem(exc: drf.APIException) -> Problem:
    if isinstance(exc, drf.ValidationError):
        return Problem.of("invalid_request", errors=exc.detail)
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        auth_header = getattr(exc, "auth_header", None)
        headers = {"WWW-Authenticate": auth_header} if auth_header else {}
        return Problem("not_authenticated", str(exc.detail), status=exc.status_code, headers=headers)
    if isinstance(exc, drf.Throttled):
        return Problem.of("throttled", headers=_retry_after(exc.wait))
    simple = {
        drf.ParseError: "invalid_request",
        drf.PermissionDenied: "permission_denied",
        drf.NotFound: "not_found",
        drf.MethodNotAllowed: "method_not_allowed",
        drf.NotAcceptable: "not_acceptable",
        drf.UnsupportedMediaType: "unsupported_media_type",
    }
    for exc_type, code in simple.items():
        if isinstance(exc, exc_type):
            return Problem(code, str(exc.detail))
    code = "invalid_request" if exc.status_code == 400 else "internal_error"
    return Problem(code, str(exc.detail), status=exc.status_code)
