"""Turns through the JSON API: validation, idempotency, regenerate after a model failure, error mapping,
throttling and isolation between customers (the cost of a warm turn: tests/chat/test_turn_cost.py)."""

import json

import pytest
import redis

from customers import services as customers
from customers.models import ChatSession, Recommendation
from llm import services as llm
from tests.chat.support import assert_problem
from tests.fakes.openai import Fault, JSONReply, Reply
from tests.fakes.openai.recommend import recommending_responder

pytestmark = pytest.mark.django_db

TURN_KEYS = {"user_message", "assistant_message", "mood", "usage", "provider", "recommendations", "constraints"}
MESSAGE_KEYS = {"id", "seq", "role", "content", "created_at", "tokens", "recommendations"}


@pytest.fixture
def no_llm_retries(settings):
    settings.LLM_MAX_RETRIES = 0


def send(client, session_id: str, content, **headers):
    return client.post(f"/api/v1/sessions/{session_id}/messages", {"content": content}, format="json", **headers)


def stored(client, session_id: str) -> list[tuple[int, str, str]]:
    messages = client.get(f"/api/v1/sessions/{session_id}/messages").json()["results"]
    return [(m["seq"], m["role"], m["content"]) for m in messages]


def test_a_turn_answers_with_both_messages(alice, api, open_session, fake_openai):
    fake_openai.script(JSONReply({"mood": "happy", "reply": "Try the spicy tofu stew!"}))
    session_id = open_session(alice)
    response = send(api(alice), session_id, "  Dinner ideas?  ")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == TURN_KEYS
    assert set(body["user_message"]) == MESSAGE_KEYS
    assert (body["user_message"]["seq"], body["user_message"]["role"]) == (1, "user")
    assert body["user_message"]["content"] == "Dinner ideas?"
    assert (body["assistant_message"]["seq"], body["assistant_message"]["role"]) == (2, "assistant")
    assert body["assistant_message"]["content"] == "Try the spicy tofu stew!"
    assert body["mood"]["mood"] == "happy"
    assert body["mood"]["source"] == "inferred"
    assert body["usage"]["prompt_tokens"] > 0
    assert body["usage"]["completion_tokens"] > 0
    assert body["provider"] == "openai"
    assert "Idempotent-Replayed" not in response

    session = api(alice).get(f"/api/v1/sessions/{session_id}").json()
    assert (session["message_count"], session["mood"]) == (2, "happy")


def test_the_offline_provider_answers_and_says_so(alice, api, open_session):
    body = send(api(alice), open_session(alice), "Hello").json()
    assert body["provider"] == "offline"
    assert body["assistant_message"]["content"]


@pytest.mark.parametrize("content", ["", "   \n\t ", "nul\x00byte", 42, None, ["hi"]])
def test_invalid_content_is_400(alice, api, open_session, fake_openai, content):
    session_id = open_session(alice)
    body = assert_problem(send(api(alice), session_id, content), 400, "invalid_request")
    assert "content" in body["errors"]
    assert stored(api(alice), session_id) == []
    assert fake_openai.requests == []


@pytest.mark.parametrize("body", [{}, {"content": "hi", "role": "assistant"}, {"content": "hi", "system_prompt": "x"}])
def test_missing_unknown_or_read_only_fields_are_400(alice, api, open_session, body):
    response = api(alice).post(f"/api/v1/sessions/{open_session(alice)}/messages", body, format="json")
    assert_problem(response, 400, "invalid_request")


def test_content_over_the_limit_is_413_before_anything_is_stored_or_sent(
    alice, api, open_session, fake_openai, settings
):
    settings.CHAT_MAX_MESSAGE_CHARS = 10
    session_id = open_session(alice)
    assert_problem(send(api(alice), session_id, "x" * 11), 413, "message_too_long")
    assert stored(api(alice), session_id) == []
    assert fake_openai.requests == []
    assert send(api(alice), session_id, "x" * 10).status_code == 201


def test_a_retry_with_the_same_idempotency_key_replays_the_first_turn(alice, api, open_session, fake_openai):
    fake_openai.script(Reply("First answer."), Reply("Second answer."))
    session_id = open_session(alice)
    client = api(alice)
    first = send(client, session_id, "Hi", HTTP_IDEMPOTENCY_KEY="retry-1")
    again = send(client, session_id, "Hi", HTTP_IDEMPOTENCY_KEY="retry-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert len(fake_openai.requests) == 1
    assert stored(client, session_id) == [(1, "user", "Hi"), (2, "assistant", "First answer.")]
    assert client.get(f"/api/v1/sessions/{session_id}").json()["message_count"] == 2  # recorded once


def test_the_same_idempotency_key_with_another_body_is_422(alice, api, open_session, fake_openai):
    session_id = open_session(alice)
    client = api(alice)
    assert send(client, session_id, "Hi", HTTP_IDEMPOTENCY_KEY="k1").status_code == 201
    assert_problem(send(client, session_id, "Bye", HTTP_IDEMPOTENCY_KEY="k1"), 422, "idempotency_conflict")
    assert len(fake_openai.requests) == 1


@pytest.mark.parametrize("key", ["", "has space", "k" * 129, "ключ"])
def test_malformed_idempotency_keys_are_400(alice, api, open_session, fake_openai, key):
    session_id = open_session(alice)
    body = assert_problem(send(api(alice), session_id, "Hi", HTTP_IDEMPOTENCY_KEY=key), 400, "invalid_request")
    assert "Idempotency-Key" in body["errors"]
    assert fake_openai.requests == []


def test_a_model_failure_keeps_the_message_and_regenerate_completes_the_turn(
    alice, api, open_session, fake_openai, no_llm_retries
):
    fake_openai.script(Fault.status(500), Reply("Sorry for the wait: try bibimbap."))
    session_id = open_session(alice)
    client = api(alice)

    body = assert_problem(send(client, session_id, "Lunch?"), 503, "llm_unavailable")
    assert "saved" in body["detail"]
    assert f"/api/v1/sessions/{session_id}/regenerate" in body["detail"]
    assert stored(client, session_id) == [(1, "user", "Lunch?")]

    response = client.post(f"/api/v1/sessions/{session_id}/regenerate")
    assert response.status_code == 201
    assert response.json()["user_message"]["seq"] == 1
    assert stored(client, session_id) == [(1, "user", "Lunch?"), (2, "assistant", "Sorry for the wait: try bibimbap.")]
    assert client.get(f"/api/v1/sessions/{session_id}").json()["message_count"] == 2


def test_regenerate_replaces_an_unwanted_reply(alice, api, open_session, fake_openai):
    fake_openai.script(Reply("Meh."), Reply("Much better."))
    session_id = open_session(alice)
    client = api(alice)
    send(client, session_id, "Ideas?")
    response = client.post(f"/api/v1/sessions/{session_id}/regenerate", HTTP_IDEMPOTENCY_KEY="again-1")
    assert response.status_code == 201
    assert stored(client, session_id) == [(1, "user", "Ideas?"), (2, "assistant", "Much better.")]
    replay = client.post(f"/api/v1/sessions/{session_id}/regenerate", HTTP_IDEMPOTENCY_KEY="again-1")
    assert (replay.json(), replay["Idempotent-Replayed"]) == (response.json(), "true")
    assert len(fake_openai.requests) == 2
    assert client.get(f"/api/v1/sessions/{session_id}").json()["message_count"] == 2


@pytest.mark.parametrize("how", ["body", "if-match"])
def test_regenerate_with_the_seq_it_expects_is_409_once_the_session_moved_on(alice, api, open_session, how):
    session_id = open_session(alice)
    client = api(alice)
    send(client, session_id, "Ideas?")  # the reply the client wants replaced is seq 2

    def regenerate(seq: int):
        if how == "body":
            return client.post(f"/api/v1/sessions/{session_id}/regenerate", {"seq": seq}, format="json")
        return client.post(f"/api/v1/sessions/{session_id}/regenerate", HTTP_IF_MATCH=f'"{seq}"')

    assert regenerate(2).status_code == 201  # still the last reply: replaced, same seq
    send(client, session_id, "And for dessert?")  # meanwhile, another tab moved the session on to seq 4
    before = stored(client, session_id)
    response = regenerate(2)
    assert_problem(response, 409, "conversation_moved_on")
    assert stored(client, session_id) == before  # nothing replaced, nothing sent to the model
    assert regenerate(4).status_code == 201


def test_regenerate_refuses_a_seq_that_is_not_a_positive_integer(alice, api, open_session):
    session_id = open_session(alice)
    client = api(alice)
    response = client.post(f"/api/v1/sessions/{session_id}/regenerate", {"seq": "two"}, format="json")
    assert_problem(response, 400, "invalid_request")
    assert_problem(client.post(f"/api/v1/sessions/{session_id}/regenerate", HTTP_IF_MATCH="*x"), 400, "invalid_request")


def test_regenerate_without_a_user_message_is_409(alice, api, open_session):
    session_id = open_session(alice)
    assert_problem(api(alice).post(f"/api/v1/sessions/{session_id}/regenerate"), 409, "nothing_to_regenerate")


def test_regenerate_refuses_a_body(alice, api, open_session):
    response = api(alice).post(f"/api/v1/sessions/{open_session(alice)}/regenerate", {"content": "x"}, format="json")
    assert_problem(response, 400, "invalid_request")


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (Fault.status(503), 503, "llm_unavailable"),
        (Fault.delay(3), 504, "llm_timeout"),
        (Fault.malformed_chunk(), 502, "llm_bad_response"),
    ],
)
def test_model_failures_map_to_problems(
    alice, api, open_session, fake_openai, no_llm_retries, settings, fault, status, code
):
    settings.LLM_READ_TIMEOUT = 0.5
    fake_openai.script(fault)
    body = assert_problem(send(api(alice), open_session(alice), "Hi"), status, code)
    assert "Your message was saved" in body["detail"]
    assert "fake" not in body["detail"].lower()  # the provider's own error text stays inside


def test_a_rate_limited_model_is_503_with_retry_after(alice, api, open_session, fake_openai):
    fake_openai.script(Fault.rate_limited(retry_after=30))  # beyond LLM_MAX_RETRY_AFTER: not waited for
    response = send(api(alice), open_session(alice), "Hi")
    assert_problem(response, 503, "llm_unavailable")
    assert response["Retry-After"] == "30"


def test_turns_beyond_the_rate_are_429_with_retry_after(alice, bob, api, open_session, settings):
    settings.THROTTLE_TURNS_PER_MINUTE = 2
    session_id = open_session(alice)
    client = api(alice)
    assert [send(client, session_id, f"m{n}").status_code for n in range(2)] == [201, 201]
    response = send(client, session_id, "one too many")
    assert_problem(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert len(stored(client, session_id)) == 4
    assert send(api(bob), open_session(bob), "bob has his own budget").status_code == 201


def test_nothing_of_one_customer_reaches_anothers_prompts(alice, bob, api, open_session, fake_openai):
    alice_session, bob_session = open_session(alice), open_session(bob)
    send(api(alice), alice_session, "My locker code is PAPAYA-7")
    send(api(alice), alice_session, "Remember it")
    send(api(bob), bob_session, "What do you know about me?")
    send(api(bob), bob_session, "And my locker code?")

    alice_requests = [json.dumps(r.body, ensure_ascii=False) for r in fake_openai.requests[:2]]
    bob_requests = [json.dumps(r.body, ensure_ascii=False) for r in fake_openai.requests[2:]]
    assert len(bob_requests) == 2
    assert all("PAPAYA-7" in r and "peanut" in r and "Alice Kim" in r for r in alice_requests[1:])
    for request in bob_requests:
        assert "Bob Park" in request
        assert "crustacean" in request
        for alice_data in ("PAPAYA-7", "Alice", "peanut", "Mapo-gu", "hiking"):
            assert alice_data not in request


def test_a_message_over_the_token_budget_is_413_before_any_model_call(alice, api, open_session, fake_openai, settings):
    settings.LLM_CONTEXT_BUDGET, settings.LLM_REPLY_RESERVE = 300, 16
    session_id = open_session(alice)
    body = assert_problem(send(api(alice), session_id, "word " * 500), 413, "message_too_long")
    assert body["detail"]
    assert stored(api(alice), session_id) == []
    assert fake_openai.requests == []


def test_admission_fails_closed_when_redis_is_down(alice, api, open_session, fake_openai, settings, closed_port):
    session_id = open_session(alice)
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/15"  # the conversation store; the cache stays up
    assert_problem(send(api(alice), session_id, "Hi"), 503, "service_unavailable")
    assert fake_openai.requests == []


@pytest.mark.parametrize("path", ["messages", "regenerate"])
def test_an_idempotent_retry_of_an_answered_turn_is_answered_even_when_the_rate_is_spent(
    settings, alice, api, open_session, fake_openai, path
):
    # Before the fix, admission came first: the retry of a turn that had been answered was refused 429.
    session_id = open_session(alice)
    client = api(alice)
    if path == "regenerate":
        send(client, session_id, "Ideas?")
    settings.THROTTLE_TURNS_PER_MINUTE = 1
    with redis.Redis.from_url(settings.REDIS_URL) as client_of_redis:
        client_of_redis.delete(f"quota:{{{alice.customer_id}}}:turns")
    body = {"content": "Count me once"} if path == "messages" else {}
    first = client.post(f"/api/v1/sessions/{session_id}/{path}", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201, first.content
    asked = len(fake_openai.requests)
    retry = client.post(f"/api/v1/sessions/{session_id}/{path}", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert retry.status_code == 201, retry.content
    assert (retry.json(), retry["Idempotent-Replayed"]) == (first.json(), "true")
    assert len(fake_openai.requests) == asked
    # Anything else is still refused: a new turn, and the same key with another request.
    messages = f"/api/v1/sessions/{session_id}/messages"
    assert_problem(client.post(messages, {"content": "New"}, format="json"), 429, "throttled")
    other = client.post(messages, {"content": "Something else"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert_problem(other, 429, "throttled")


def test_a_replay_owing_a_recording_that_had_committed_records_nothing_more(alice, api, open_session, fake_openai):
    """The connection can drop after a recording's commit reached the database: the turn is then marked as owing its
    recording although it has it. Its replay finds the cards' rows and writes nothing again (no error, no double
    count)."""
    customers.catalog_demo_seed()
    fake_openai.set_responder(recommending_responder)
    client = api(alice)
    session_id = open_session(alice)
    headers = {"HTTP_IDEMPOTENCY_KEY": "dinner-1"}
    first = send(client, session_id, "매운 저녁 추천해 주세요, 마포에서", **headers)
    assert first.status_code == 201, first.content
    assert first.json()["recommendations"]
    llm.turn_recording_owed(session_id=session_id, idempotency_key="dinner-1")

    replay = send(client, session_id, "매운 저녁 추천해 주세요, 마포에서", **headers)
    assert replay.status_code == 201, replay.content
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json()["recommendations"] == first.json()["recommendations"]
    assert ChatSession.objects.get(pk=session_id).message_count == 2
    assert Recommendation.objects.filter(session_id=session_id).count() == len(first.json()["recommendations"])
