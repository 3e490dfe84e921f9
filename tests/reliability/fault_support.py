"""The client side of the fault tests: one customer's calls to the app served under uvicorn, and what they read back
(the history, the session row, the app's log)."""

import time
from collections.abc import Callable
from typing import Any, TypeVar

from customers.models import ChatSession
from tests.chat.support import PROBLEM_KEYS, parse_events
from tests.harness.api import auth, wait_for
from tests.harness.app_server import AppServer, HttpResponse

T = TypeVar("T")

PROBLEM_CONTENT_TYPE = "application/problem+json"


class Customer:
    """A fixture customer talking to an AppServer with their token."""

    def __init__(self, app: AppServer, customer: Any) -> None:
        self.app = app
        self.token = customer.token
        self.headers = auth(customer)

    def me(self, **kwargs: Any) -> HttpResponse:
        return self.app.get("/api/v1/me", headers=self.headers, **kwargs)

    def open_session(self) -> str:
        response = self.app.request("POST", "/api/v1/sessions", payload={}, headers=self.headers)
        assert response.status == 201, f"{response.status}: {response.body!r}"
        return response.json()["id"]

    def send(
        self, session_id: str, content: str, *, stream: bool = False, key: str | None = None, timeout: float = 15.0
    ) -> HttpResponse:
        headers = dict(self.headers)
        if stream:
            headers["Accept"] = "text/event-stream"
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.app.request(
            "POST",
            f"/api/v1/sessions/{session_id}/messages",
            payload={"content": content},
            headers=headers,
            timeout=timeout,
        )

    def regenerate(self, session_id: str, *, timeout: float = 15.0) -> HttpResponse:
        return self.app.request(
            "POST", f"/api/v1/sessions/{session_id}/regenerate", headers=self.headers, timeout=timeout
        )

    def set_mood(self, session_id: str, mood: str) -> HttpResponse:
        return self.app.request(
            "PUT", f"/api/v1/sessions/{session_id}/mood", payload={"mood": mood}, headers=self.headers
        )

    def messages(self, session_id: str, **kwargs: Any) -> HttpResponse:
        return self.app.get(f"/api/v1/sessions/{session_id}/messages", headers=self.headers, **kwargs)

    def history(self, session_id: str) -> list[dict]:
        """The session's messages, oldest first (GET .../messages must answer 200)."""
        response = self.messages(session_id)
        assert response.status == 200, f"{response.status}: {response.body!r}"
        return response.json()["results"]

    def session(self, session_id: str, **kwargs: Any) -> HttpResponse:
        return self.app.get(f"/api/v1/sessions/{session_id}", headers=self.headers, **kwargs)

    def send_until_answered(self, session_id: str, content: str, *, timeout: float) -> HttpResponse:
        """Send `content` again and again (503 while a backing service recovers) until it is answered with 201;
        each refused attempt must have stored nothing, or the history checks that follow will say so."""

        def answered() -> HttpResponse | None:
            response = self.send(session_id, content)
            if response.status == 201:
                return response
            problem(response, 503, "service_unavailable")
            return None

        return wait_for(answered, timeout=timeout, interval=0.2)


def problem(response: HttpResponse, status: int, code: str) -> dict:
    """The response is an RFC 9457 problem with this status and code (never a traceback or HTML); its body."""
    assert response.status == status, f"{response.status}, expected {status}: {response.body!r}"
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE, response.headers
    body = response.json()
    assert set(body) >= PROBLEM_KEYS, body
    assert (body["status"], body["code"]) == (status, code), body
    return body


def events(response: HttpResponse) -> list[tuple[str, Any]]:
    """A streamed send's events as (name, data); the stream itself must have started (200, text/event-stream)."""
    assert response.status == 200, f"{response.status}: {response.body!r}"
    assert response.headers["content-type"] == "text/event-stream", response.headers
    return parse_events(response.body)


def stream_error(response: HttpResponse, code: str) -> tuple[str, dict]:
    """A stream that ended with one `error` event of `code` after zero or more deltas: (the delta text, the problem)."""
    received = [item for item in events(response) if item[0] != "ping"]
    names = [name for name, _ in received]
    assert names == ["delta"] * (len(names) - 1) + ["error"], names
    error = received[-1][1]
    assert set(error) >= PROBLEM_KEYS, error
    assert error["code"] == code, error
    return "".join(data["text"] for _, data in received[:-1]), error


def failed_turn(response: HttpResponse, status: int, code: str, *, stream: bool) -> dict:
    """The problem of a failed send: the response itself, or for a streamed send (whose status line went out before
    the model was called) its `error` event; with this status and code either way."""
    if not stream:
        return problem(response, status, code)
    error = stream_error(response, code)[1]
    assert error["status"] == status, error
    return error


def session_counters(session_id: str) -> dict:
    """The session row's counters, read from the test database the app writes to."""
    return ChatSession.objects.values("message_count", "prompt_tokens", "completion_tokens").get(pk=session_id)


def assert_counts_match(session_id: str, *, messages: int, turns: list[dict]) -> None:
    """The row counts `messages` messages (every one ever stored), and exactly the tokens of the 2xx turns `turns`
    (their bodies)."""
    expected = {
        "message_count": messages,
        "prompt_tokens": sum(turn["usage"]["prompt_tokens"] for turn in turns),
        "completion_tokens": sum(turn["usage"]["completion_tokens"] for turn in turns),
    }
    counters = session_counters(session_id)
    assert counters == expected, f"session row {counters}, expected {expected}"


def assert_clean_log(app: AppServer, secrets: list[str]) -> None:
    """No traceback, no unhandled exception, and none of `secrets` (message texts, tokens) in the app's log."""
    log = app.log_text()
    assert "Traceback" not in log, log
    assert "unhandled_exception" not in log, log
    for secret in secrets:
        assert secret not in log, f"{secret!r} leaked into the app log"


def timed(call: Callable[[], T]) -> tuple[T, float]:
    """What `call()` returns and how many seconds it took."""
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started
