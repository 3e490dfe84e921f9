"""Turns as Server-Sent Events, served in-process through Django's ASGI handler (AsyncClient).

The streamed turn is recorded from a worker thread, so these tests commit their data (transaction=True).
The disconnect case needs a real socket and lives in test_processes.py.
"""

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from tests.chat.support import assert_problem, parse_events
from tests.fakes.openai import Fault, Reply

pytestmark = pytest.mark.django_db(transaction=True)


def stream(customer, session_id: str, content: str, **headers):
    """POST a message asking for SSE; returns the response and its whole body."""

    async def run():
        response = await AsyncClient().post(
            f"/api/v1/sessions/{session_id}/messages",
            {"content": content},
            content_type="application/json",
            headers={"Authorization": f"Token {customer.token}", "Accept": "text/event-stream", **headers},
        )
        body = b"".join([chunk async for chunk in response.streaming_content]) if response.streaming else None
        return response, body

    # async_to_sync runs the view's synchronous part on this thread, with this thread's database connection.
    return async_to_sync(run)()


def test_deltas_then_done_with_the_recorded_turn(alice, api, open_session, fake_openai):
    fake_openai.script(Reply("Spicy tofu stew, then a walk.", chunks=["Spicy tofu ", "stew, then ", "a walk."]))
    session_id = open_session(alice)
    response, body = stream(alice, session_id, "Dinner?")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    assert response["X-Accel-Buffering"] == "no"

    events = parse_events(body)
    names = [name for name, _ in events if name != "ping"]
    assert names[-1] == "done"
    assert set(names[:-1]) == {"delta"}
    assert len(names) >= 3  # the reply arrived in pieces, as produced
    turn = events[-1][1]
    text = "".join(data["text"] for name, data in events if name == "delta")
    assert text == turn["assistant_message"]["content"] == "Spicy tofu stew, then a walk."
    assert (turn["user_message"]["seq"], turn["assistant_message"]["seq"]) == (1, 2)
    assert turn["provider"] == "openai"

    session = api(alice).get(f"/api/v1/sessions/{session_id}").json()
    assert session["message_count"] == 2
    assert [m["content"] for m in session["messages"]] == ["Dinner?", "Spicy tofu stew, then a walk."]


def test_the_offline_provider_streams_too(alice, open_session):
    _, body = stream(alice, open_session(alice), "Hello")
    events = parse_events(body)
    assert [name for name, _ in events][-1] == "done"
    assert events[-1][1]["provider"] == "offline"


def test_pings_keep_a_waiting_stream_alive(alice, open_session, fake_openai, settings):
    settings.CHAT_SSE_HEARTBEAT_SECONDS = 0.05
    fake_openai.script(Reply("Worth the wait.", delay=0.4))
    events = parse_events(stream(alice, open_session(alice), "Hi")[1])
    first_delta = next(i for i, (name, _) in enumerate(events) if name == "delta")
    assert ("ping", None) in events[:first_delta]
    assert events[-1][0] == "done"


def test_a_model_failure_is_an_error_event_and_regenerate_completes_the_turn(
    alice, api, open_session, fake_openai, settings
):
    settings.LLM_MAX_RETRIES = 0
    fake_openai.script(Fault.status(500), Reply("Here you go."))
    session_id = open_session(alice)
    response, body = stream(alice, session_id, "Lunch?")
    assert response.status_code == 200
    (name, problem), *_ = [event for event in parse_events(body) if event[0] != "ping"]
    assert name == "error"
    assert problem["code"] == "llm_unavailable"
    assert problem["status"] == 503
    assert f"/api/v1/sessions/{session_id}/regenerate" in problem["detail"]

    client = api(alice)
    assert client.post(f"/api/v1/sessions/{session_id}/regenerate").status_code == 201
    messages = client.get(f"/api/v1/sessions/{session_id}/messages").json()["results"]
    assert [(m["seq"], m["content"]) for m in messages] == [(1, "Lunch?"), (2, "Here you go.")]
    assert client.get(f"/api/v1/sessions/{session_id}").json()["message_count"] == 2


def test_a_replayed_stream_sends_only_the_done_event(alice, open_session, fake_openai):
    session_id = open_session(alice)
    first = parse_events(stream(alice, session_id, "Hi", **{"Idempotency-Key": "s-1"})[1])
    again = parse_events(stream(alice, session_id, "Hi", **{"Idempotency-Key": "s-1"})[1])
    assert [name for name, _ in again] == ["done"]
    assert again[0][1] == first[-1][1]
    assert len(fake_openai.requests) == 1


@pytest.mark.parametrize(
    ("setup", "status", "code"),
    [
        ("bobs_session", 404, "not_found"),
        ("ended_session", 409, "session_ended"),
        ("too_long", 413, "message_too_long"),
    ],
)
def test_errors_before_the_stream_starts_are_plain_problems(
    alice, bob, api, open_session, settings, fake_openai, setup, status, code
):
    session_id = open_session(bob if setup == "bobs_session" else alice)
    content = "Hi"
    if setup == "ended_session":
        api(alice).post(f"/api/v1/sessions/{session_id}/end")
    if setup == "too_long":
        settings.CHAT_MAX_MESSAGE_CHARS = 5
        content = "Far too long"
    response, _ = stream(alice, session_id, content)
    assert not response.streaming
    assert_problem(response, status, code)
    assert fake_openai.requests == []


def test_a_message_over_the_token_budget_is_a_plain_413(alice, open_session, fake_openai, settings):
    settings.LLM_CONTEXT_BUDGET, settings.LLM_REPLY_RESERVE = 300, 16
    response, _ = stream(alice, open_session(alice), "word " * 500)
    assert not response.streaming
    assert_problem(response, 413, "message_too_long")
    assert fake_openai.requests == []
