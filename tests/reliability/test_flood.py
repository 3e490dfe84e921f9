"""A flood of anonymous and failing requests against the app under uvicorn (two workers, loopback only), while a
real customer talks: her turns keep answering, and every kind of flooding request is limited (docs/reliability.md,
"A limit on every path"). Bounded: 12 flooding threads for FLOOD_SECONDS, each request with a short timeout."""

import http.client
import re
import secrets
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth import get_user_model

from tests.harness.api import auth, history, open_session, send
from tests.harness.app_server import HttpResponse
from tests.reliability.rules import check_history, seen_turn

pytestmark = [pytest.mark.processes, pytest.mark.timeout(90)]

FLOOD_SECONDS = 6
FLOOD_THREADS = 12
LIMITS = {
    "THROTTLE_TURNS_PER_MINUTE": "5",  # mallory's failing turns: 5 counted, then 429
    "THROTTLE_TOKEN_LOOKUPS_PER_MINUTE": "20",  # per address: the loopback's random tokens
    "ADMIN_LOGIN_ATTEMPTS_PER_IP": "3",  # each checked password costs a worker's thread most of a second
    "ADMIN_LOGIN_ATTEMPTS_PER_USERNAME": "3",
    "READYZ_CACHE_SECONDS": "1",
    "CUSTOMER_CACHE_TTL": "600",
}


def _flooding_requests(mallory):
    """The kinds of flooding request, each (kind, method, path, payload, headers)."""
    forged = {"Authorization": f"Token {secrets.token_hex(20)}"}
    return [
        ("anonymous", "GET", "/api/v1/me", None, {}),
        ("forged token", "GET", "/api/v1/me", None, forged),
        ("unknown session", "POST", f"/api/v1/sessions/{uuid.uuid4()}/messages", {"content": "hi"}, auth(mallory)),
        ("bad body", "POST", f"/api/v1/sessions/{uuid.uuid4()}/messages", {"content": ""}, auth(mallory)),
        ("schema", "GET", "/api/schema/", None, {}),
        ("readiness", "GET", "/readyz", None, {}),
        ("admin sign-in", "POST", "/admin/login/", None, {}),
    ]


def test_a_flood_of_anonymous_and_failing_requests_leaves_real_customers_turns_answering(
    alice, make_customer, app_server_factory
):
    mallory = make_customer("mallory")
    get_user_model().objects.create_superuser("staff", "staff@example.com", "a-long-staff-passphrase-3")
    server = app_server_factory(LIMITS, workers=2)
    session_id = open_session(server, alice)  # her token is cached from here on: no lookup during the flood
    form = _raw(server, "GET", "/admin/login/")  # what a sign-in needs: the CSRF cookie and the form's token
    cookie = re.search(r"csrftoken=([^;]+)", form.headers["set-cookie"]).group(1)
    csrf = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', form.body).group(1).decode()
    sign_in_headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={cookie}"}

    outcomes: dict[str, Counter] = {}
    lock = threading.Lock()
    stop = time.monotonic() + FLOOD_SECONDS

    def flood(worker: int) -> None:
        n = 0
        while time.monotonic() < stop:
            kind, method, path, payload, headers = _flooding_requests(mallory)[(worker + n) % 7]
            n += 1
            try:
                if kind == "admin sign-in":
                    body = f"csrfmiddlewaretoken={csrf}&username=staff&password=guess-{secrets.token_hex(4)}"
                    status = _raw(server, method, path, body.encode(), sign_in_headers).status
                else:
                    status = server.request(method, path, payload=payload, headers=headers, timeout=5).status
            except TimeoutError:
                status = "timeout"
            with lock:
                outcomes.setdefault(kind, Counter())[status] += 1

    seen, sent, slowest = [], [], 0.0
    with ThreadPoolExecutor(FLOOD_THREADS) as pool:
        flooding = [pool.submit(flood, worker) for worker in range(FLOOD_THREADS)]
        time.sleep(0.5)  # the flood is under way
        for n in range(4):
            content = f"Something spicy for dinner, take {n}?"
            started = time.monotonic()
            response = send(server, alice, session_id, content, timeout=10)
            slowest = max(slowest, time.monotonic() - started)
            assert response.status == 201, response.body
            seen.append(seen_turn(response.json()))
            sent.append(content)
        for future in flooding:
            future.result()

    check_history(history(server, alice, session_id), succeeded=seen, sent=sent)
    assert slowest < 10
    total = sum(sum(counts.values()) for counts in outcomes.values())
    assert total >= 50, outcomes  # a flood indeed (about 700 on a busy 2-core machine)
    assert set(outcomes["anonymous"]) == {401}
    # Random tokens: at most 20 looked up in the database (401), the rest refused before it (429).
    assert outcomes["forged token"][401] <= 20, outcomes
    assert outcomes["forged token"][429] > 0, outcomes
    # mallory's turns that fail early: 5 counted against her turn rate, then 429 before any SQL.
    failing = outcomes["unknown session"] + outcomes["bad body"]
    assert failing[404] + failing[400] <= 5, outcomes
    assert failing[429] > 0, outcomes
    assert set(outcomes["schema"]) == {200}
    assert set(outcomes["readiness"]) == {200}
    # The admin's sign-in: 3 attempts checked a password (the form again, 200), the rest were refused (429).
    assert outcomes["admin sign-in"][200] <= 3, outcomes
    assert set(outcomes["admin sign-in"]) == {200, 429}, outcomes


def _raw(server, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return HttpResponse(status=response.status, headers=headers, body=response.read())
    finally:
        conn.close()
