"""Sign-ins, throttled: the admin's (`/admin/login/`) and the chat page's (`/login/`). Every POST counts against its
client address (ADMIN_LOGIN_ATTEMPTS_PER_IP) and the username it names (ADMIN_LOGIN_ATTEMPTS_PER_USERNAME) within
ADMIN_LOGIN_WINDOW_SECONDS, shared by every process and by both forms through Redis (`llm.attempt_admit`), so that
a guesser gains nothing by switching forms. Beyond either, it answers 429 with Retry-After before the password is
checked (hashing a password is the costly part, and guessing is what the limit stops). Successful sign-ins count
too: people sign in a few times a day.

A username under attack is refused to its owner as well until the window slides; they can sign in again after it,
or be given a new password with `manage.py changepassword`. With Redis down a sign-in goes on uncounted (a warning
is logged), so that sign-in stays usable through the outage.
"""

import logging

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from llm import services as llm
from llm.services import RequestRateLimited, StoreUnavailable

logger = logging.getLogger(__name__)

_USERNAME_CHARS = 150  # Django's username length: a longer name is no account, counted by its prefix


def sign_in_refusal(request: HttpRequest) -> HttpResponse | None:
    """Count a sign-in POST; the 429 answer when it is over a limit, else None (the sign-in goes on)."""
    if request.method != "POST":
        return None
    username = request.POST.get("username", "")[:_USERNAME_CHARS].casefold()
    limits = (
        ("admin-login-ip", request.META.get("REMOTE_ADDR", ""), settings.ADMIN_LOGIN_ATTEMPTS_PER_IP),
        ("admin-login-username", username, settings.ADMIN_LOGIN_ATTEMPTS_PER_USERNAME),
    )
    try:
        for scope, ident, limit in limits:
            llm.attempt_admit(scope=scope, ident=ident, limit=limit, window_seconds=settings.ADMIN_LOGIN_WINDOW_SECONDS)
    except RequestRateLimited as exc:
        logger.warning("admin_login_throttled", extra={"scope": scope})
        wait = int(exc.retry_after or settings.ADMIN_LOGIN_WINDOW_SECONDS)
        return HttpResponse(
            f"Too many sign-in attempts. Try again in {wait} seconds.\n",
            status=429,
            headers={"Retry-After": str(wait)},
            content_type="text/plain; charset=utf-8",
        )
    except StoreUnavailable:
        logger.warning("admin_login_not_counted", extra={"reason": "store_unavailable"})
    return None


def admin_login(request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
    return sign_in_refusal(request) or admin.site.login(request, extra_context)
