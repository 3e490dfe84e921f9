"""Load, ordering and isolation with the app under uvicorn (2 workers) and a fake model that answers from each request.

50 sessions of 5 customers talk at once: every model request holds only its own session's messages and its own
customer's facts, and every history obeys the rule. 10 sends queue on one session's lock in a known order (the fake
model holds the first turn until each of the others is seen queued): they are served one at a time, in that order,
never interleaved. And a turn waiting for the model holds no
database connection, so slow model calls cannot starve the connection pool.
"""

import itertools
import re
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from django.conf import settings

from customers.models import Customer
from tests.fakes.openai import Reply
from tests.harness.api import REQUEST_TIMEOUT, auth, history, open_session, send, wait_for
from tests.reliability.rules import check_history, seen_turn

pytestmark = [pytest.mark.processes, pytest.mark.timeout(90)]

# Admission must not interfere: these tests are about isolation and ordering, not throttling.
UNTHROTTLED = {
    "THROTTLE_TURNS_PER_MINUTE": "100000",
    "THROTTLE_REQUESTS_PER_MINUTE": "0",
    "DAILY_TOKEN_QUOTA": "1000000000",
}
# The production waits for a database connection instead of the harness's short ones: 25 turns arriving at once on
# a worker whose pool is still growing must not fail on a machine busy with other test runs.
PRODUCTION_POOL = {"DATABASE_POOL_TIMEOUT": "5", "DATABASE_CONNECT_TIMEOUT": "3"}
MARKER = re.compile(r"\bS\d{2}-[0-9a-f]{8}\b")


def facts_of(customer) -> list[str]:
    """What a prompt may say about this customer and nobody else's may: name, home area, preferences, allergies."""
    row = Customer.objects.get(pk=customer.customer_id)
    return [row.display_name, row.home_area, *row.preferences, *row.allergies]


def new_marker(index: int) -> str:
    return f"S{index:02d}-{secrets.token_hex(4)}"


def is_reply_request(body: dict) -> bool:
    """Reply requests ask for structured output; summaries and folds ask for plain text."""
    return "response_format" in body


def wait_for_cache_expiry() -> None:
    """Until every customer cache entry the app wrote (django-redis keys under the `cb` prefix) has expired."""
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        assert next(client.scan_iter(match="cb:*"), None) is not None, "no customer cache entry to wait for"
        wait_for(lambda: next(client.scan_iter(match="cb:*"), None) is None, what="the cache entries expired")


class EchoModel:
    """A responder that answers a reply request with `echo: <last user message>` after `latency` seconds, and
    records when each request was in flight (thread-safe: the fake serves each request on its own thread)."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.calls: list[tuple[float, float, dict]] = []  # (started, finished, body)
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()

    def __call__(self, body: dict) -> Reply:
        started = time.monotonic()
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        time.sleep(self.latency)
        with self._lock:
            self._in_flight -= 1
            self.calls.append((started, time.monotonic(), body))
        if not is_reply_request(body):
            return Reply("A short summary.")
        return Reply(f"echo: {body['messages'][-1]['content']}")

    def reply_calls(self) -> list[tuple[float, float, dict]]:
        return sorted((call for call in self.calls if is_reply_request(call[2])), key=lambda call: call[0])


@pytest.fixture
def five_customers(alice, bob, charlie, make_customer):
    dana = make_customer(
        "dana",
        display_name="Dana Lee",
        home_area="Incheon, Yeonsu-gu",
        preferred_language="en",
        preferences=["street food", "cycling"],
        allergies=["sesame"],
    )
    erin = make_customer(
        "erin",
        display_name="Erin Jung",
        home_area="Daejeon, Yuseong-gu",
        preferred_language="en",
        preferences=["sushi", "photography"],
        allergies=["dairy"],
    )
    return [alice, bob, charlie, dana, erin]


def test_fifty_concurrent_sessions_of_five_customers_never_see_each_other(
    five_customers, app_server_factory, fake_openai
):
    model = EchoModel(latency=0.05)
    fake_openai.set_responder(model)
    server = app_server_factory({**UNTHROTTLED, **PRODUCTION_POOL}, workers=2, openai=fake_openai)
    sessions_per_customer, turns_per_session = 10, 3
    owners = [customer for customer in five_customers for _ in range(sessions_per_customer)]
    markers = [new_marker(index) for index in range(len(owners))]
    with ThreadPoolExecutor(max_workers=len(owners)) as pool:
        session_ids = list(pool.map(lambda customer: open_session(server, customer), owners))
    start = threading.Barrier(len(owners), timeout=REQUEST_TIMEOUT)

    def converse(index: int) -> list:
        start.wait()  # all 50 sessions talk at the same time
        return [
            send(server, owners[index], session_ids[index], f"{markers[index]} turn {turn}: what should I try?")
            for turn in range(turns_per_session)
        ]

    with ThreadPoolExecutor(max_workers=len(owners)) as pool:
        answers = list(pool.map(converse, range(len(owners))))

    assert model.max_in_flight > 1, "the model never had two requests in flight: nothing ran concurrently"
    for index, responses in enumerate(answers):
        assert [r.status for r in responses] == [201] * turns_per_session, [r.body for r in responses]
        turns = [seen_turn(r.json()) for r in responses]
        assert all(markers[index] in r.json()["assistant_message"]["content"] for r in responses)
        messages = history(server, owners[index], session_ids[index])
        check_history(messages, succeeded=turns, sent=[turn.user_content for turn in turns])
        assert len(messages) == 2 * turns_per_session
        assert all(MARKER.findall(m["content"]) == [markers[index]] for m in messages)

    customer_of_marker = dict(zip(markers, owners, strict=True))
    facts = {customer.username: facts_of(customer) for customer in five_customers}
    calls = model.reply_calls()
    assert len(calls) == len(owners) * turns_per_session
    for _, _, body in calls:
        system, conversation = body["messages"][0], body["messages"][1:]
        assert system["role"] == "system"
        assert not MARKER.search(system["content"])
        seen = [MARKER.findall(message["content"]) for message in conversation]
        assert all(found == seen[-1] for found in seen), f"one model request held several sessions' messages: {seen}"
        owner = customer_of_marker[seen[-1][0]].username
        for other, other_facts in facts.items():
            if other != owner:
                leaked = [fact for fact in other_facts if fact in system["content"]]
                assert not leaked, f"{owner}'s prompt holds {other}'s facts {leaked}"
        missing = [fact for fact in facts[owner] if fact not in system["content"]]
        assert not missing, f"{owner}'s prompt lacks their own facts {missing}"

    for customer in five_customers:
        listing = server.get("/api/v1/sessions?limit=100", headers=auth(customer)).json()
        own = {sid for sid, owner in zip(session_ids, owners, strict=True) if owner is customer}
        assert {s["id"] for s in listing["results"]} == own
        assert all(s["message_count"] == 2 * turns_per_session for s in listing["results"])


def test_ten_concurrent_sends_to_one_session_are_served_one_at_a_time_in_arrival_order(
    alice, app_server_factory, fake_openai
):
    sends = 10
    model = EchoModel(latency=0.05)
    fake_openai.set_responder(model)
    server = app_server_factory({**UNTHROTTLED, "TURN_LOCK_WAIT_SECONDS": "15"}, workers=2, openai=fake_openai)
    session_id = open_session(server, alice)
    assert history(server, alice, session_id) == []  # caches the session's owner and status

    marker = new_marker(0)
    contents = [f"{marker} send {index}" for index in range(sends)]
    lock_key = f"chat:{{{session_id}}}:lock"

    def in_line() -> int:
        with redis.Redis.from_url(settings.REDIS_URL) as client:
            return client.zcard(lock_key)

    # The arrival order is made, not hoped for: the fake holds the first turn at the model (it holds the lock),
    # and each next send goes out only once the one before it is seen queued on the lock. Then the fake lets go.
    fake_openai.hold()
    with ThreadPoolExecutor(max_workers=sends) as pool:
        futures = [pool.submit(send, server, alice, session_id, contents[0])]
        wait_for(lambda: fake_openai.held == 1, what="the first turn held at the model")
        for index in range(1, sends):
            futures.append(pool.submit(send, server, alice, session_id, contents[index]))
            wait_for(lambda n=index + 1: in_line() == n, what=f"send {index} queued on the lock")
        assert not any(f.done() for f in futures), "a send was answered before the first turn was let go"
        fake_openai.release()
        responses = [f.result() for f in futures]

    assert [r.status for r in responses] == [201] * sends, [r.body for r in responses if r.status != 201]
    messages = history(server, alice, session_id)
    turns = [seen_turn(r.json()) for r in responses]
    check_history(messages, succeeded=turns, sent=contents)
    assert [m["content"] for m in messages if m["role"] == "user"] == contents
    assert [m["content"] for m in messages if m["role"] == "assistant"] == [f"echo: {c}" for c in contents]

    calls = model.reply_calls()
    assert len(calls) == sends
    for (_, previous_end, _), (next_start, _, _) in itertools.pairwise(calls):
        assert next_start >= previous_end, "two turns of one session were at the model at the same time"
    for position, (_, _, body) in enumerate(calls):
        # Each model call saw exactly the turns served before it, then its own message: one at a time, in order.
        expected = [m["content"] for m in messages[: 2 * position + 1]]
        assert [m["content"] for m in body["messages"][1:]] == expected


def test_turns_and_ends_hold_no_database_connection_while_the_model_answers(alice, app_server_factory, fake_openai):
    # One worker whose pool has 2 connections, and cached reads that expire after 1 s. Two sessions end, then four
    # turns start on fresh sessions, while every model call takes 3 s. Each reads the database before its model call
    # (cold caches); one that kept its connection through the call would leave the later ones waiting past the
    # pool's 2 s timeout.
    model = EchoModel(latency=0.0)
    fake_openai.set_responder(model)
    env = {"DATABASE_POOL_MAX_SIZE": "2", "DATABASE_POOL_TIMEOUT": "2", "CUSTOMER_CACHE_TTL": "1"}
    server = app_server_factory({**UNTHROTTLED, **env}, workers=1, openai=fake_openai)
    ending = [open_session(server, alice) for _ in range(2)]
    assert all(send(server, alice, sid, "Breakfast ideas?").status == 201 for sid in ending)
    talking = [open_session(server, alice) for _ in range(4)]
    wait_for_cache_expiry()  # the cached owner, status and context of every session have expired
    model.latency = 3.0

    def end(session_id: str):
        return server.request("POST", f"/api/v1/sessions/{session_id}/end", headers=auth(alice), timeout=20)

    with ThreadPoolExecutor(max_workers=len(ending) + len(talking)) as pool:
        asked = len(fake_openai.requests)
        ends = [pool.submit(end, sid) for sid in ending]
        fake_openai.wait_for_requests(asked + len(ending), timeout=10)  # the ends are at the model first
        turns = [pool.submit(send, server, alice, sid, "Lunch ideas?") for sid in talking]
        responses = [future.result() for future in ends + turns]

    assert [r.status for r in responses] == [200] * len(ending) + [201] * len(talking), [r.body for r in responses]
    for session_id in ending:
        assert server.get(f"/api/v1/sessions/{session_id}", headers=auth(alice)).json()["status"] == "ended"
    for session_id in talking:
        session = server.get(f"/api/v1/sessions/{session_id}", headers=auth(alice)).json()
        assert session["message_count"] == 2  # the activity was recorded after the model call, on a new checkout
