"""Redis going away under the real server: the app runs against a PrivateRedis of the test's own, which the test
stops, flushes, or puts behind a FaultProxy that stalls or slows every byte.

The customer cache is an optimisation (reads fall back to PostgreSQL); the conversation store is not (every
conversation path answers 503 service_unavailable, and admission fails closed). Nothing hangs past the socket
timeouts and nothing answers with a traceback; when Redis is back, turns work again.
"""

import pytest

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

SOCKET_TIMEOUT = 0.3
# A Redis call fails within about two socket timeouts (one retry); a request makes a few before it gives up.
BOUND = 3.0


@pytest.fixture
def start_app(app_server_factory, fake_openai):
    """`start_app(env)`: the app under uvicorn (one worker) with the fake model and these settings."""
    apps = []

    def start(env: dict[str, str]):
        apps.append(app_server_factory(env, workers=1, openai=fake_openai))
        return apps[-1]

    yield start
    for app in apps:
        print(tail(app.log_text()))  # reported only when the test failed


def conversation_paths_refused(client: Customer, session_id: str) -> None:
    """Every path that needs the conversation store answers 503 service_unavailable within BOUND seconds."""
    attempts = {
        "send": lambda: client.send(session_id, "redis outage canary"),
        "streamed send": lambda: client.send(session_id, "streamed redis outage canary", stream=True),
        "regenerate": lambda: client.regenerate(session_id),
        "messages": lambda: client.messages(session_id),
        "session": lambda: client.session(session_id),
        "mood": lambda: client.set_mood(session_id, "calm"),
    }
    for name, attempt in attempts.items():
        response, seconds = timed(attempt)
        problem(response, 503, "service_unavailable")
        assert seconds < BOUND, f"{name} took {seconds:.1f}s"


def customer_paths_served(app, client: Customer, other: Customer) -> None:
    """What needs only PostgreSQL still answers, within BOUND seconds: profiles, token auth, session listing."""
    for name, attempt, status in (
        ("cached token", client.me, 200),
        ("uncached token", other.me, 200),
        ("unknown token", lambda: app.get("/api/v1/me", headers={"Authorization": "Token " + "0" * 40}), 401),
        ("sessions", lambda: app.get("/api/v1/sessions", headers=client.headers), 200),
    ):
        response, seconds = timed(attempt)
        assert response.status == status, (name, response.body)
        assert seconds < BOUND, f"{name} took {seconds:.1f}s"


def test_with_redis_down_reads_fall_back_to_the_database_and_conversations_fail_closed(
    start_app, private_redis, alice, bob, fake_openai
):
    app = start_app({"REDIS_URL": private_redis.url()})
    client = Customer(app, alice)
    session_id = client.open_session()
    first = client.send(session_id, "Before the outage")
    assert first.status == 201, first.body

    private_redis.stop()
    customer_paths_served(app, client, Customer(app, bob))
    assert client.open_session()  # a session is a row: it opens without Redis
    conversation_paths_refused(client, session_id)
    assert len(fake_openai.requests) == 1  # admission failed closed before any model call

    private_redis.start()  # empty: this Redis keeps nothing on disk
    after = client.send_until_answered(session_id, "After the outage", timeout=10)
    history = client.history(session_id)
    assert [m["seq"] for m in history] == [1, 2]  # the conversation restarts, as after a flush
    check_history(history, succeeded=[seen_turn(after.json())], sent=["After the outage"])
    # The row still counts the turn before the outage: its counters never go backwards.
    assert_counts_match(session_id, messages=2 + len(history), turns=[first.json(), after.json()])
    assert_clean_log(app, ["redis outage canary", "Before the outage", alice.token, bob.token])


@pytest.mark.parametrize("fault", ["stall", "slow"])
def test_a_stalled_or_slow_redis_fails_conversations_within_the_socket_timeouts(
    start_app, private_redis, fault_proxy_factory, alice, bob, fake_openai, fault
):
    proxy = fault_proxy_factory(private_redis.host, private_redis.port)
    env = {
        "REDIS_URL": f"redis://{proxy.host}:{proxy.port}/0",
        "REDIS_SOCKET_TIMEOUT": str(SOCKET_TIMEOUT),
        "REDIS_SOCKET_CONNECT_TIMEOUT": str(SOCKET_TIMEOUT),
    }
    app = start_app(env)
    client = Customer(app, alice)
    session_id = client.open_session()
    first = client.send(session_id, "Before Redis slows down")
    assert first.status == 201, first.body

    if fault == "stall":
        proxy.stall()
    else:
        proxy.slow(3 * SOCKET_TIMEOUT)  # every answer arrives after the client stopped waiting
    customer_paths_served(app, client, Customer(app, bob))
    conversation_paths_refused(client, session_id)
    assert len(fake_openai.requests) == 1

    proxy.restore()
    after = client.send_until_answered(session_id, "After Redis recovers", timeout=15)
    history = client.history(session_id)
    check_history(
        history,
        succeeded=[seen_turn(first.json()), seen_turn(after.json())],
        sent=["Before Redis slows down", "After Redis recovers"],
    )
    assert len(history) == 4  # nothing of the refused turns, and nothing lost
    assert_counts_match(session_id, messages=len(history), turns=[first.json(), after.json()])
    assert_clean_log(app, ["redis outage canary", "Before Redis slows down", alice.token])


def test_a_flushed_redis_loses_the_conversation_but_not_the_session_its_context_or_its_counters(
    start_app, private_redis, alice, fake_openai
):
    # A short list cap makes the sixth turn fold the oldest messages into a rolling summary.
    app = start_app({"REDIS_URL": private_redis.url(), "CHAT_MAX_STORED_MESSAGES": "10"})
    client = Customer(app, alice)
    session_id = client.open_session()
    mood = client.set_mood(session_id, "tired")
    assert mood.status == 200, mood.body
    before = [client.send(session_id, f"Remember PAPAYA-{n}") for n in range(6)]
    assert [r.status for r in before] == [201] * 6
    prompt = system_prompt_of(fake_openai.requests[-1])
    assert "<conversation_summary>" in prompt
    assert "Current mood: tired" in prompt

    private_redis.flushall()
    detail = client.session(session_id)
    assert detail.status == 200, detail.body
    assert (detail.json()["messages"], detail.json()["mood"], detail.json()["message_count"]) == ([], None, 12)

    after = client.send(session_id, "Do you remember me?")
    assert after.status == 201, after.body
    assert after.json()["user_message"]["seq"] == 1  # the history starts again
    request = fake_openai.requests[-1].body
    prompt = system_prompt_of(fake_openai.requests[-1])
    assert "Alice Kim" in prompt
    assert "peanut" in prompt  # the customer's facts come from the database, every turn
    assert "<conversation_summary>" not in prompt  # gone: the rolling summary...
    assert "Current mood: not known" in prompt  # ...the mood...
    assert [m["role"] for m in request["messages"]] == ["system", "user"]  # ...and every earlier message
    assert "PAPAYA" not in str(request)

    history = client.history(session_id)
    check_history(history, succeeded=[seen_turn(after.json())], sent=["Do you remember me?"])
    assert_counts_match(session_id, messages=12 + len(history), turns=[r.json() for r in [*before, after]])
    assert_clean_log(app, ["PAPAYA", "Do you remember me?", alice.token])


def system_prompt_of(request) -> str:
    messages = request.body["messages"]
    assert messages[0]["role"] == "system"
    return messages[0]["content"]
