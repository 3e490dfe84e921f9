"""The API of the app under uvicorn (an AppServer), called as one of the fixture customers, and waiting for a
condition another process brings about."""

import time
from collections.abc import Callable
from typing import Any, TypeVar

from tests.harness.app_server import AppServer, HttpResponse

T = TypeVar("T")

# A request's upper bound: far beyond what a turn with the fake model takes, short of the test's own timeout.
REQUEST_TIMEOUT = 30.0


def auth(customer: Any) -> dict[str, str]:
    """The header that authenticates as `customer` (anything with a `token`)."""
    return {"Authorization": f"Token {customer.token}"}


def open_session(server: AppServer, customer: Any) -> str:
    """The id of a new open session of the customer's, opened through the API."""
    response = server.request("POST", "/api/v1/sessions", payload={}, headers=auth(customer))
    assert response.status == 201, response.body
    return response.json()["id"]


def send(
    server: AppServer,
    customer: Any,
    session_id: str,
    content: str,
    *,
    path_suffix: str = "",
    timeout: float = REQUEST_TIMEOUT,
) -> HttpResponse:
    """POST the message to the session (`path_suffix` appended to the messages path)."""
    return server.request(
        "POST",
        f"/api/v1/sessions/{session_id}/messages{path_suffix}",
        payload={"content": content},
        headers=auth(customer),
        timeout=timeout,
    )


def history(server: AppServer, customer: Any, session_id: str) -> list[dict]:
    """The session's messages, oldest first (GET .../messages must answer 200)."""
    response = server.get(f"/api/v1/sessions/{session_id}/messages", headers=auth(customer))
    assert response.status == 200, response.body
    return response.json()["results"]


def wait_for(predicate: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.05, what: str = "") -> T:
    """The first truthy result of `predicate()`, polled every `interval` seconds; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"{what or 'condition'} not met within {timeout}s"
        time.sleep(interval)
    return result
