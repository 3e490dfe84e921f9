"""Sessions through the HTTP API: open, list, show, set the mood, end with a summary, erase; and isolation."""

from datetime import UTC, datetime

import pytest
import redis

from llm import services as llm
from tests.chat.support import assert_problem
from tests.fakes.openai import Reply

pytestmark = pytest.mark.django_db

# Ending a session drops cached entries once its transaction commits: tests that read them afterwards commit.
committing = pytest.mark.django_db(transaction=True)

SESSION_KEYS = {"id", "status", "title", "mood", "created_at", "last_activity_at", "message_count"}


def test_open_a_session(alice, api):
    response = api(alice).post("/api/v1/sessions", {"title": "Dinner ideas"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == SESSION_KEYS
    assert body["status"] == "open"
    assert body["title"] == "Dinner ideas"
    assert body["mood"] is None
    assert body["message_count"] == 0
    assert response["Location"] == f"/api/v1/sessions/{body['id']}"


def test_open_a_session_without_a_body(alice, api):
    response = api(alice).post("/api/v1/sessions")
    assert response.status_code == 201
    assert response.json()["title"] == ""


@pytest.mark.parametrize("body", [{"title": "x" * 201}, {"title": 5}, {"title": "ok", "seq": 1}])
def test_open_refuses_bad_bodies(alice, api, body):
    assert_problem(api(alice).post("/api/v1/sessions", body, format="json"), 400, "invalid_request")


def test_list_newest_first_with_pages_and_status(alice, api, open_session):
    ids = [open_session(alice, f"s{n}") for n in range(3)]
    client = api(alice)
    client.post(f"/api/v1/sessions/{ids[0]}/end")

    first = client.get("/api/v1/sessions?limit=2").json()
    assert first["count"] == 3
    assert [s["id"] for s in first["results"]] == [ids[2], ids[1]]
    assert first["previous"] is None
    second = client.get(first["next"]).json()
    assert [s["id"] for s in second["results"]] == [ids[0]]
    assert second["next"] is None
    assert client.get(second["previous"]).json()["results"] == first["results"]

    ended = client.get("/api/v1/sessions?status=ended").json()
    assert [(s["id"], s["status"]) for s in ended["results"]] == [(ids[0], "ended")]
    assert client.get("/api/v1/sessions?status=open").json()["count"] == 2


@pytest.mark.parametrize("query", ["status=closed", "limit=0", "limit=101", "offset=-1", "limit=x"])
def test_list_refuses_bad_parameters(alice, api, query):
    assert_problem(api(alice).get(f"/api/v1/sessions?{query}"), 400, "invalid_request")


def test_detail_of_an_open_session_has_its_live_messages(alice, api, open_session):
    session_id = open_session(alice)
    client = api(alice)
    client.post(f"/api/v1/sessions/{session_id}/messages", {"content": "Hello"}, format="json")
    body = client.get(f"/api/v1/sessions/{session_id}").json()
    assert set(body) == SESSION_KEYS | {"summary", "messages", "constraints"}
    assert body["summary"] is None
    assert body["message_count"] == 2
    assert [(m["seq"], m["role"]) for m in body["messages"]] == [(1, "user"), (2, "assistant")]
    assert body["messages"][0]["content"] == "Hello"


def test_set_the_mood(alice, api, open_session):
    session_id = open_session(alice)
    client = api(alice)
    response = client.put(f"/api/v1/sessions/{session_id}/mood", {"mood": "tired"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["mood"], body["source"]) == ("tired", "user")
    assert body["set_at"]
    assert client.get(f"/api/v1/sessions/{session_id}").json()["mood"] == "tired"
    assert client.get("/api/v1/sessions").json()["results"][0]["mood"] == "tired"


@pytest.mark.parametrize("body", [{"mood": "ecstatic"}, {}, {"mood": "happy", "source": "inferred"}])
def test_set_the_mood_refuses_bad_bodies(alice, api, open_session, body):
    session_id = open_session(alice)
    response = api(alice).put(f"/api/v1/sessions/{session_id}/mood", body, format="json")
    assert_problem(response, 400, "invalid_request")


@committing
def test_end_summarizes_stores_and_closes(alice, api, open_session):
    session_id = open_session(alice)
    client = api(alice)
    client.post(f"/api/v1/sessions/{session_id}/messages", {"content": "I want to go hiking"}, format="json")
    client.put(f"/api/v1/sessions/{session_id}/mood", {"mood": "excited"}, format="json")

    response = client.post(f"/api/v1/sessions/{session_id}/end")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ended"
    assert body["summary"]
    assert body["mood"] == "excited"
    assert body["messages"] == []
    assert llm.conversation_get(session_id=session_id).messages == ()  # the summary replaced the live state
    assert client.get(f"/api/v1/sessions/{session_id}").json()["summary"] == body["summary"]
    assert client.get(f"/api/v1/sessions/{session_id}/messages").json() == {"results": []}


@committing
def test_an_ended_session_refuses_turns_mood_and_a_second_end(alice, api, open_session):
    session_id = open_session(alice)
    client = api(alice)
    client.post(f"/api/v1/sessions/{session_id}/end")
    assert_problem(client.post(f"/api/v1/sessions/{session_id}/end"), 409, "session_ended")
    response = client.post(f"/api/v1/sessions/{session_id}/messages", {"content": "hi"}, format="json")
    assert_problem(response, 409, "session_ended")
    assert_problem(client.post(f"/api/v1/sessions/{session_id}/regenerate"), 409, "session_ended")
    response = client.put(f"/api/v1/sessions/{session_id}/mood", {"mood": "sad"}, format="json")
    assert_problem(response, 409, "session_ended")


@committing
def test_past_summaries_reach_the_next_sessions_prompt(alice, api, open_session, fake_openai):
    client = api(alice)
    first = open_session(alice, "Weekend")
    client.post(f"/api/v1/sessions/{first}/messages", {"content": "Plan a hike"}, format="json")
    fake_openai.script(Reply("Alice planned a hike up Bukhansan on Saturday."))
    assert client.post(f"/api/v1/sessions/{first}/end").json()["summary"] == (
        "Alice planned a hike up Bukhansan on Saturday."
    )

    second = open_session(alice, "Dinner")
    client.post(f"/api/v1/sessions/{second}/messages", {"content": "Dinner?"}, format="json")
    system_prompt = fake_openai.requests[-1].body["messages"][0]["content"]
    assert "Bukhansan" in system_prompt


@committing
def test_delete_erases_everywhere(alice, api, open_session):
    session_id = open_session(alice)
    client = api(alice)
    client.post(f"/api/v1/sessions/{session_id}/messages", {"content": "Hello"}, format="json")
    assert client.delete(f"/api/v1/sessions/{session_id}").status_code == 204
    assert llm.conversation_get(session_id=session_id).messages == ()
    assert_problem(client.get(f"/api/v1/sessions/{session_id}"), 404, "not_found")
    assert client.get("/api/v1/sessions").json()["count"] == 0
    assert_problem(client.delete(f"/api/v1/sessions/{session_id}"), 404, "not_found")


def test_another_customers_session_is_404_for_every_operation(alice, bob, api, open_session):
    session_id = open_session(alice, "Alice's")
    alice_client = api(alice)
    alice_client.post(f"/api/v1/sessions/{session_id}/messages", {"content": "My secret plan"}, format="json")
    base = f"/api/v1/sessions/{session_id}"
    bob_client = api(bob)

    attempts = [
        bob_client.get(base),
        bob_client.get(f"{base}/messages"),
        bob_client.post(f"{base}/messages", {"content": "hi"}, format="json"),
        bob_client.post(f"{base}/regenerate"),
        bob_client.put(f"{base}/mood", {"mood": "angry"}, format="json"),
        bob_client.post(f"{base}/end"),
        bob_client.delete(base),
    ]
    for response in attempts:
        body = assert_problem(response, 404, "not_found")
        assert session_id not in body["detail"]
    assert bob_client.get("/api/v1/sessions").json()["count"] == 0

    untouched = alice_client.get(base).json()
    assert (untouched["status"], untouched["mood"], untouched["message_count"]) == ("open", None, 2)
    assert untouched["messages"][0]["content"] == "My secret plan"


def test_an_unknown_session_is_404(alice, api):
    assert_problem(api(alice).get("/api/v1/sessions/00000000-0000-0000-0000-000000000000"), 404, "not_found")


def test_open_sessions_per_customer_are_capped_with_a_clear_409(settings, alice, bob, api, open_session):
    # Before the cap, a customer could open sessions without bound.
    settings.CHAT_MAX_OPEN_SESSIONS = 2
    first, _ = open_session(alice), open_session(alice)
    response = api(alice).post("/api/v1/sessions", {}, format="json")
    assert_problem(response, 409, "too_many_open_sessions")
    assert "2" in response.json()["detail"]
    open_session(bob)  # another customer has a cap of their own
    assert api(alice).post(f"/api/v1/sessions/{first}/end").status_code == 200
    open_session(alice)  # an ended session no longer counts


def say_hi(client, session_id: str):
    return client.post(f"/api/v1/sessions/{session_id}/messages", {"content": "Hi"}, format="json")


def test_an_end_beyond_the_turn_rate_is_429_and_changes_nothing(settings, alice, api, open_session, fake_openai):
    # Before the fix, an end's summary call was admitted by nothing: N ends were N uncounted model calls.
    client = api(alice)
    sessions = [open_session(alice) for _ in range(3)]
    for session_id in sessions:
        assert say_hi(client, session_id).status_code == 201
    with redis.Redis.from_url(settings.REDIS_URL) as client_of_redis:
        client_of_redis.delete(f"quota:{{{alice.customer_id}}}:turns")
    settings.THROTTLE_TURNS_PER_MINUTE = 2
    asked = len(fake_openai.requests)
    statuses = [client.post(f"/api/v1/sessions/{session_id}/end").status_code for session_id in sessions]
    assert statuses == [200, 200, 429]
    assert len(fake_openai.requests) == asked + 2
    refused = client.post(f"/api/v1/sessions/{sessions[2]}/end")
    assert_problem(refused, 429, "throttled")
    assert 1 <= int(refused["Retry-After"]) <= 60
    detail = client.get(f"/api/v1/sessions/{sessions[2]}").json()
    assert (detail["status"], detail["message_count"]) == ("open", 2)


def test_an_end_beyond_the_daily_token_quota_is_429_and_changes_nothing(
    settings, alice, api, open_session, fake_openai
):
    client = api(alice)
    session_id = open_session(alice)
    assert say_hi(client, session_id).status_code == 201
    settings.DAILY_TOKEN_QUOTA = 1  # the turn spent more
    asked = len(fake_openai.requests)
    refused = client.post(f"/api/v1/sessions/{session_id}/end")
    assert_problem(refused, 429, "throttled")
    assert int(refused["Retry-After"]) >= 1
    assert len(fake_openai.requests) == asked
    detail = client.get(f"/api/v1/sessions/{session_id}").json()
    assert (detail["status"], detail["message_count"]) == ("open", 2)


def test_an_empty_session_ends_without_admission(settings, alice, api, open_session):
    settings.DAILY_TOKEN_QUOTA = 1
    with redis.Redis.from_url(settings.REDIS_URL) as client_of_redis:
        client_of_redis.set(f"quota:{{{alice.customer_id}}}:tokens:{datetime.now(UTC):%Y%m%d}", 5)
    session_id = open_session(alice)
    assert api(alice).post(f"/api/v1/sessions/{session_id}/end").status_code == 200  # no model call to admit


def test_requests_beyond_the_rate_are_429_per_customer_and_go_on_uncounted_without_redis(
    settings, alice, bob, api, closed_port
):
    settings.THROTTLE_REQUESTS_PER_MINUTE = 2
    client = api(alice)
    assert [client.get("/api/v1/me").status_code for _ in range(2)] == [200, 200]
    refused = client.get("/api/v1/sessions")
    assert_problem(refused, 429, "throttled")
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert api(bob).get("/api/v1/me").status_code == 200
    settings.THROTTLE_REQUESTS_PER_MINUTE = 0  # off
    assert client.get("/api/v1/me").status_code == 200
    settings.THROTTLE_REQUESTS_PER_MINUTE = 100
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/15"  # the counters are gone, the database answers
    assert client.get("/api/v1/me").status_code == 200
    assert client.get("/api/v1/sessions").status_code == 200
