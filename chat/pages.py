"""The chat page at `/`, a customer's sign-in and sign-out: Django templates over the API's own endpoints.

The page is a reference client of the API: plain JavaScript modules in `static/chat/` (no build step, nothing
fetched from elsewhere) calling `/api/v1/` with the session cookie and the CSRF token. Its pages carry a strict
Content-Security-Policy: scripts and styles from this origin only, never inline, so that text from the model or the
catalog that slipped into the page as markup still could not run.
"""

import functools
from collections.abc import Callable

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from chat.sign_in import sign_in_refusal
from llm.services import MOODS

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


def strict_csp(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The page's Content-Security-Policy on every answer of `view` (the admin and the API docs keep their own)."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response

    return wrapped


@strict_csp
@login_required
def chat_page(request: HttpRequest) -> HttpResponse:
    return render(request, "chat/page.html", {"moods": MOODS})


class LoginView(auth_views.LoginView):
    """Django's sign-in form, throttled like the admin's (chat.sign_in), for customers of the page."""

    template_name = "chat/login.html"
    redirect_authenticated_user = True

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return sign_in_refusal(request) or super().dispatch(request, *args, **kwargs)


login = strict_csp(LoginView.as_view())
logout = auth_views.LogoutView.as_view(next_page="chat-login")  # POST only (Django 5): a link cannot sign anyone out
