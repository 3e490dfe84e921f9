"""Model faults through the real server (uvicorn, one worker) and the fake OpenAI server over HTTP: rate limiting,
bursts of 5xx, a hang past the read timeout, and streams that break mid-way.

For each: what the client sees (status, problem code, Retry-After; an SSE `error` event for a streamed send), what
is stored (the customer's message, never a half-written reply) and what the session row counts; then regenerate
completes the turn.
"""

import pytest

from tests.fakes.openai import Fault, JSONReply, Reply
from tests.harness.logs import tail
from tests.reliability.fault_support import (
    Customer,
    assert_clean_log,
    assert_counts_match,
    events,
    failed_turn,
    problem,
    stream_error,
    timed,
)
from tests.reliability.rules import check_history, seen_turn

pytestmark = [pytest.mark.processes, pytest.mark.timeout(60)]

READ_TIMEOUT = 1.0
HANG = 10.0  # far beyond the read timeout: an answer well before it can only be the timeout's
# Two retries after the first try; a Retry-After up to 0.2 s is waited for, and backoffs stay under it.
APP_ENV = {"LLM_READ_TIMEOUT": str(READ_TIMEOUT), "LLM_MAX_RETRIES": "2", "LLM_MAX_RETRY_AFTER": "0.2"}
ATTEMPTS = 3
FAKE_ERROR_TEXT = "(fake)"  # every scripted provider error says this; the client must never see it


@pytest.fixture
def app(app_server_factory, fake_openai):
    app = app_server_factory(APP_ENV, workers=1, openai=fake_openai)
    yield app
    print(tail(app.log_text()))  # reported only when the test failed


@pytest.fixture
def client(app, alice) -> Customer:
    return Customer(app, alice)


def assert_message_kept(client: Customer, session_id: str, content: str, body: dict) -> None:
    """After a failed turn: the problem says the message was saved and how to get a reply; the history holds the
    message without a reply; the row counts it, with no tokens."""
    assert "Your message was saved" in body["detail"], body
    assert f"/api/v1/sessions/{session_id}/regenerate" in body["detail"], body
    assert FAKE_ERROR_TEXT not in body["detail"], body
    history = client.history(session_id)
    assert [(m["role"], m["content"]) for m in history] == [("user", content)]
    check_history(history, sent=[content])
    assert_counts_match(session_id, messages=len(history), turns=[])


def assert_regenerate_completes(client: Customer, session_id: str, content: str, fake_openai) -> None:
    """Regenerate answers the kept message: one user message, one reply, counted once."""
    fake_openai.script(JSONReply({"mood": "calm", "reply": "Here is the answer after all."}))
    response = client.regenerate(session_id)
    assert response.status == 201, response.body
    turn = response.json()
    assert (turn["user_message"]["seq"], turn["user_message"]["content"]) == (1, content)
    assert turn["assistant_message"]["content"] == "Here is the answer after all."
    history = client.history(session_id)
    check_history(history, succeeded=[seen_turn(turn)], sent=[content])
    assert len(history) == 2
    assert_counts_match(session_id, messages=len(history), turns=[turn])


# --- 429 --------------------------------------------------------------------------------------------------


def test_a_429_within_the_retries_is_waited_out_and_answered(client, fake_openai):
    fake_openai.script(Fault.rate_limited(retry_after=0.1), Fault.rate_limited(retry_after=0.1), Reply("Made it."))
    session_id = client.open_session()

    response = client.send(session_id, "Lunch near Mapo?")
    assert response.status == 201, response.body
    assert response.json()["assistant_message"]["content"] == "Made it."
    assert len(fake_openai.requests) == ATTEMPTS
    history = client.history(session_id)
    check_history(history, succeeded=[seen_turn(response.json())], sent=["Lunch near Mapo?"])
    assert_counts_match(session_id, messages=len(history), turns=[response.json()])


@pytest.mark.parametrize(
    ("retry_after", "requests", "header", "stream"),
    [
        pytest.param(0.1, ATTEMPTS, "1", False, id="retries-exhausted"),
        pytest.param(30, 1, "30", False, id="retry-after-too-long-to-wait"),
        pytest.param(0.1, ATTEMPTS, None, True, id="retries-exhausted-streamed"),
    ],
)
def test_rate_limiting_that_outlasts_the_retries_is_503_with_retry_after(
    app, client, fake_openai, retry_after, requests, header, stream
):
    fake_openai.script_n(requests, Fault.rate_limited(retry_after=retry_after))
    session_id = client.open_session()

    response, seconds = timed(lambda: client.send(session_id, "rate-limit canary", stream=stream))
    body = failed_turn(response, 503, "llm_unavailable", stream=stream)
    # The provider's own wait, in whole seconds (at least 1); a stream's headers went out before the model answered.
    assert response.headers.get("retry-after") == header
    assert len(fake_openai.requests) == requests
    assert seconds < 5  # waits of at most LLM_MAX_RETRY_AFTER each, never the provider's 30 s
    assert_message_kept(client, session_id, "rate-limit canary", body)

    assert_regenerate_completes(client, session_id, "rate-limit canary", fake_openai)
    assert_clean_log(app, ["rate-limit canary", client.token])


# --- 5xx --------------------------------------------------------------------------------------------------


def test_a_burst_of_5xx_shorter_than_the_retries_is_retried_to_success(client, fake_openai):
    fake_openai.script(Fault.status(500), Fault.status(502), Reply("Third time lucky."))
    session_id = client.open_session()

    response = client.send(session_id, "Anything vegan?")
    assert response.status == 201, response.body
    assert response.json()["assistant_message"]["content"] == "Third time lucky."
    assert len(fake_openai.requests) == ATTEMPTS
    history = client.history(session_id)
    check_history(history, succeeded=[seen_turn(response.json())], sent=["Anything vegan?"])
    assert_counts_match(session_id, messages=len(history), turns=[response.json()])


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_a_burst_of_5xx_longer_than_the_retries_is_503_and_the_message_is_kept(app, client, fake_openai, stream):
    fake_openai.script(Fault.status(500), Fault.status(503), Fault.status(502))
    session_id = client.open_session()

    response = client.send(session_id, "5xx canary", stream=stream)
    body = failed_turn(response, 503, "llm_unavailable", stream=stream)
    assert "retry-after" not in response.headers  # the provider named no wait
    assert len(fake_openai.requests) == ATTEMPTS
    assert_message_kept(client, session_id, "5xx canary", body)

    assert_regenerate_completes(client, session_id, "5xx canary", fake_openai)
    assert_clean_log(app, ["5xx canary"])


# --- a hang past the read timeout -------------------------------------------------------------------------


def test_a_model_that_hangs_is_504_after_the_read_timeout_without_a_retry(app, client, fake_openai):
    fake_openai.script(Fault.delay(HANG))
    session_id = client.open_session()

    response, seconds = timed(lambda: client.send(session_id, "hang canary"))
    body = problem(response, 504, "llm_timeout")
    assert READ_TIMEOUT <= seconds < HANG / 2
    assert len(fake_openai.requests) == 1  # a timeout is not retried: the slow request may still be running
    assert_message_kept(client, session_id, "hang canary", body)

    assert_regenerate_completes(client, session_id, "hang canary", fake_openai)
    assert_clean_log(app, ["hang canary"])


def test_a_streamed_send_whose_model_hangs_ends_with_an_llm_timeout_event(app, client, fake_openai):
    fake_openai.script(Fault.delay(HANG))
    session_id = client.open_session()

    response, seconds = timed(lambda: client.send(session_id, "streamed hang canary", stream=True))
    partial, error = stream_error(response, "llm_timeout")
    assert partial == ""
    assert READ_TIMEOUT <= seconds < HANG / 2
    assert_message_kept(client, session_id, "streamed hang canary", error)

    assert_regenerate_completes(client, session_id, "streamed hang canary", fake_openai)
    assert_clean_log(app, ["streamed hang canary"])


# --- streams that break mid-way ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        pytest.param(Fault.cut_stream(after_chunks=3), "llm_unavailable", id="cut"),
        pytest.param(Fault.malformed_chunk(after_chunks=3), "llm_bad_response", id="malformed-chunk"),
        pytest.param(Fault.error_chunk(after_chunks=3), "llm_unavailable", id="error-chunk"),
    ],
)
def test_a_stream_broken_mid_way_ends_with_an_error_event_and_stores_no_half_reply(
    app, client, fake_openai, fault, code
):
    fake_openai.script(fault)
    session_id = client.open_session()

    partial, error = stream_error(client.send(session_id, "broken stream canary", stream=True), code)
    assert partial  # the client saw the start of a reply...
    assert_message_kept(client, session_id, "broken stream canary", error)  # ...which is stored nowhere
    assert len(fake_openai.requests) == 1  # never retried once a delta went out

    assert_regenerate_completes(client, session_id, "broken stream canary", fake_openai)
    assert_clean_log(app, ["broken stream canary", partial])


@pytest.mark.parametrize(
    ("fault", "attempts", "status", "code"),
    [
        # A connection dropped mid-answer and a 5xx are retried; a malformed answer is not.
        pytest.param(Fault.cut_stream(), ATTEMPTS, 503, "llm_unavailable", id="cut-body"),
        pytest.param(Fault.malformed_chunk(), 1, 502, "llm_bad_response", id="malformed-body"),
        pytest.param(Fault.error_chunk(), ATTEMPTS, 503, "llm_unavailable", id="error-status"),
    ],
)
def test_the_same_faults_on_a_json_send_are_problems_and_keep_the_message(
    app, client, fake_openai, fault, attempts, status, code
):
    fake_openai.script_n(attempts, fault)
    session_id = client.open_session()

    body = problem(client.send(session_id, "broken answer canary"), status, code)
    assert len(fake_openai.requests) == attempts
    assert_message_kept(client, session_id, "broken answer canary", body)

    assert_regenerate_completes(client, session_id, "broken answer canary", fake_openai)
    assert_clean_log(app, ["broken answer canary"])


# --- completing a failed turn by retrying it with its Idempotency-Key --------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_a_failed_turn_retried_with_its_idempotency_key_is_answered_and_counted_once(app, client, fake_openai, stream):
    """A client retrying through an outage with the same key: each failure keeps the one message, and the retry that
    gets through answers it; the row never counts it twice."""
    fake_openai.script_n(2 * ATTEMPTS, Fault.status(503))
    session_id = client.open_session()
    for _ in range(2):
        failed = client.send(session_id, "retried canary", stream=stream, key="turn-1")
        assert_message_kept(
            client, session_id, "retried canary", failed_turn(failed, 503, "llm_unavailable", stream=stream)
        )

    retried = client.send(session_id, "retried canary", stream=stream, key="turn-1")
    assert retried.status == (200 if stream else 201), retried.body
    turn = dict([events(retried)[-1]])["done"] if stream else retried.json()
    assert turn["user_message"]["seq"] == 1  # the stored message, answered; not stored again
    history = client.history(session_id)
    check_history(history, succeeded=[seen_turn(turn)], sent=["retried canary"])
    assert len(history) == 2
    assert_counts_match(session_id, messages=len(history), turns=[turn])
    assert_clean_log(app, ["retried canary"])
