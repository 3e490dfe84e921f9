"""PostgreSQL going away under the real server: the app reaches the test database through a FaultProxy, which the
test cuts (every connection reset, new ones refused) and restores.

The promise: a turn is refused with 503 service_unavailable before any model call and before anything of it is
written to Redis, whether the customer cache is cold or warm; once the database is back, turns work again. An outage
that begins while the model answers leaves the turn whole in Redis and says so (the one window a ping cannot close).
"""

from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from django.conf import settings

from customers import services as customers
from customers.models import Recommendation
from tests.fakes.openai import Reply
from tests.fakes.openai.recommend import recommending_responder
from tests.harness.api import wait_for
from tests.harness.app_server import database_address, database_url_for_tests
from tests.harness.logs import tail
from tests.reliability.fault_support import (
    Customer,
    assert_clean_log,
    assert_counts_match,
    problem,
    timed,
)
from tests.reliability.rules import check_history, seen_turn

pytestmark = [pytest.mark.processes, pytest.mark.timeout(90)]

POOL_TIMEOUT = 1.0
NOTHING_CHANGED = "The database is unavailable; nothing was changed."  # then when to try again


@pytest.fixture
def db_proxy(fault_proxy_factory):
    return fault_proxy_factory(*database_address())


@pytest.fixture
def app(app_server_factory, db_proxy, fake_openai):
    app = app_server_factory(
        {"DATABASE_URL": database_url_for_tests(port=db_proxy.port), "DATABASE_POOL_TIMEOUT": str(POOL_TIMEOUT)},
        workers=1,
        openai=fake_openai,
    )
    yield app
    print(tail(app.log_text()))  # reported only when the test failed


@pytest.fixture
def store():
    """The Redis database the app keeps conversations in (the test index)."""
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        yield client


def session_state(store: redis.Redis, session_id: str) -> dict[bytes, bytes]:
    """Every conversation key of the session (messages, mood, lock, idempotency records) with its serialized value."""
    return {key: store.dump(key) for key in store.scan_iter(match=f"chat:{{{session_id}}}:*")}


def refused_turns(client: Customer, session_id: str) -> None:
    """Every way to start a turn answers 503 before the model: JSON, streamed (a problem, not a stream), regenerate."""
    for response in (
        client.send(session_id, "outage canary"),
        client.send(session_id, "streamed outage canary", stream=True),
        client.regenerate(session_id),
    ):
        body = problem(response, 503, "service_unavailable")
        assert body["detail"].startswith(NOTHING_CHANGED), body


def test_a_cold_cache_outage_refuses_before_the_model_and_writes_nothing(app, db_proxy, alice, bob, fake_openai, store):
    client = Customer(app, alice)
    session_id = client.open_session()  # only alice's token is cached now

    db_proxy.cut()
    for profile in (client.me, Customer(app, bob).me):  # bob's token was never cached
        response, seconds = timed(profile)
        problem(response, 503, "service_unavailable")  # never "not authenticated": the token may be fine
        assert seconds < POOL_TIMEOUT + 3
    refused_turns(client, session_id)
    assert fake_openai.requests == []
    assert session_state(store, session_id) == {}

    db_proxy.restore()
    response = client.send_until_answered(session_id, "After the outage", timeout=20)
    history = client.history(session_id)
    check_history(history, succeeded=[seen_turn(response.json())], sent=["After the outage"])
    assert len(history) == 2  # nothing of the refused turns
    assert_counts_match(session_id, messages=len(history), turns=[response.json()])
    assert_clean_log(app, ["outage canary", alice.token, bob.token])


def test_a_warm_cache_outage_refuses_before_the_model_and_writes_nothing(app, db_proxy, alice, fake_openai, store):
    client = Customer(app, alice)
    session_id = client.open_session()
    first = client.send(session_id, "Warm every cache")
    assert first.status == 201, first.body
    before = session_state(store, session_id)
    assert before  # the turn is stored

    db_proxy.cut()
    assert [m["content"] for m in client.history(session_id)] == ["Warm every cache", "Fake reply."]  # no SQL
    refused_turns(client, session_id)
    assert len(fake_openai.requests) == 1  # only the first turn's
    assert session_state(store, session_id) == before  # no message, no lock, no idempotency record left behind

    db_proxy.restore()
    second = client.send_until_answered(session_id, "After the outage", timeout=20)
    history = client.history(session_id)
    check_history(
        history,
        succeeded=[seen_turn(first.json()), seen_turn(second.json())],
        sent=["Warm every cache", "After the outage"],
    )
    assert len(history) == 4
    assert_counts_match(session_id, messages=len(history), turns=[first.json(), second.json()])
    assert_clean_log(app, ["outage canary", "Warm every cache", alice.token])


def test_an_outage_during_the_model_call_keeps_the_reply_and_says_so(app, db_proxy, alice, fake_openai):
    """The one window left: the database fails after the ping, while the model answers. The turn is stored whole in
    Redis and the client hears 503 saying so; only the session row misses the turn's counts."""
    client = Customer(app, alice)
    session_id = client.open_session()
    first = client.send(session_id, "Warm every cache")
    assert first.status == 201, first.body

    fake_openai.script(Reply("A slow but complete answer.", delay=1.5))
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(client.send, session_id, "Answered during the outage")
        fake_openai.wait_for_requests(2, timeout=10)  # the ping passed; the model is answering
        db_proxy.cut()
        response = pending.result(timeout=15)
    body = problem(response, 503, "service_unavailable")
    assert body["detail"].startswith("The reply was saved and appears in the session's messages"), body

    history = client.history(session_id)
    check_history(history, succeeded=[seen_turn(first.json())], sent=["Warm every cache", "Answered during the outage"])
    assert [m["content"] for m in history[2:]] == ["Answered during the outage", "A slow but complete answer."]

    db_proxy.restore()
    second = client.send_until_answered(session_id, "After the outage", timeout=20)
    check_history(client.history(session_id), succeeded=[seen_turn(first.json()), seen_turn(second.json())])
    assert_counts_match(session_id, messages=4, turns=[first.json(), second.json()])  # 6 stored: 2 not counted


def test_a_replay_after_a_failed_recording_records_the_turn_once(app, db_proxy, alice, fake_openai):
    """The turn of an Idempotency-Key is answered and stored, then its recording fails (the database is cut while
    the model answers). Its first replay once the database is back records it: counters and cards (which can then
    be rated); a second replay records nothing more."""
    customers.catalog_demo_seed()
    client = Customer(app, alice)
    session_id = client.open_session()
    first = client.send(session_id, "Warm every cache")
    assert first.status == 201, first.body

    def slow_recommending(body):
        return Reply(recommending_responder(body).content, delay=1.5)

    fake_openai.set_responder(slow_recommending)
    request = "매운 저녁 추천해 주세요, 마포에서"
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(client.send, session_id, request, key="dinner-1")
        fake_openai.wait_for_requests(2, timeout=10)
        db_proxy.cut()
        response = pending.result(timeout=15)
    problem(response, 503, "service_unavailable")
    assert_counts_match(session_id, messages=2, turns=[first.json()])
    db_proxy.restore()

    replay = wait_for(
        lambda: (r := client.send(session_id, request, key="dinner-1")).status == 201 and r,
        timeout=20,
        what="the replay answered",
    )
    assert replay.headers["idempotent-replayed"] == "true"
    turn = replay.json()
    cards = [card["id"] for card in turn["recommendations"]]
    assert cards, turn
    assert_counts_match(session_id, messages=4, turns=[first.json(), turn])
    assert sorted(
        str(pk) for pk in Recommendation.objects.filter(session_id=session_id).values_list("pk", flat=True)
    ) == sorted(cards)
    rated = app.request(
        "POST", f"/api/v1/recommendations/{cards[0]}/feedback", payload={"rating": "down"}, headers=client.headers
    )
    assert rated.status == 200, rated.body

    again = client.send(session_id, request, key="dinner-1")
    assert again.status == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert_counts_match(session_id, messages=4, turns=[first.json(), turn])
    assert Recommendation.objects.filter(session_id=session_id).count() == len(cards)
    assert len(fake_openai.requests) == 2  # the replays made no model call
