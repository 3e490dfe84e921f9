"""Turns through the API against servers that refuse some structured-output shapes or send no streamed usage (the
fake OpenAI server in their modes): every turn completes, JSON and SSE, with one refused request per process, and a
refused request is the problem `llm_rejected`, never `llm_unavailable`."""

import pytest

from llm import refusals
from tests.chat.support import assert_problem, parse_events
from tests.chat.test_api_stream import stream
from tests.fakes.openai import Fault, JSONReply, Reply

pytestmark = pytest.mark.django_db(transaction=True)

NO_CARDS = ("Nothing I may recommend fits your rules right now.", "지금은 조건에 맞는 추천이 없어요.")
ANSWER = {"mood": "calm", "recommendations": [], "reply": "Warm noodles, then an early night."}


def send(api, customer, session_id, content="Dinner?"):
    return api(customer).post(f"/api/v1/sessions/{session_id}/messages", {"content": content}, format="json")


@pytest.mark.parametrize(
    ("refuse", "shapes"),
    [
        ("json_schema", ["json_schema", "json_object", "json_object", "json_object", "json_object"]),
        ("response_format", ["json_schema", "json_object", None, None, None, None]),
    ],
)
def test_turns_complete_as_json_and_sse_with_one_refused_shape_per_process(
    alice, api, open_session, fake_openai, refuse, shapes
):
    fake_openai.set_responder(lambda body: JSONReply(ANSWER))
    fake_openai.configure(refuse=refuse)
    session_id = open_session(alice)
    for content in ("Dinner?", "저녁 추천해 주세요"):
        response = send(api, alice, session_id, content)
        assert response.status_code == 201, response.content
        assert response.json()["assistant_message"]["content"] == ANSWER["reply"]
    for content in ("Something warm?", "따뜻한 거?"):
        _, body = stream(alice, session_id, content)
        name, turn = parse_events(body)[-1]
        assert name == "done"
        assert turn["assistant_message"]["content"] == ANSWER["reply"]
    # The response_format type of each request (None: the schema in the prompt): refused once, then kept.
    assert [(r.body.get("response_format") or {}).get("type") for r in fake_openai.requests] == shapes
    assert api(alice).get(f"/api/v1/sessions/{session_id}").json()["message_count"] == 8


@pytest.mark.parametrize("stream_usage", [True, False])
def test_the_turns_usage_says_how_it_was_obtained(alice, api, open_session, fake_openai, stream_usage):
    fake_openai.set_responder(lambda body: JSONReply(ANSWER))
    fake_openai.configure(stream_usage=stream_usage)
    session_id = open_session(alice)
    _, body = stream(alice, session_id, "Dinner?")
    name, turn = parse_events(body)[-1]
    assert name == "done"
    assert turn["usage"]["source"] == ("server" if stream_usage else "counted")
    assert turn["usage"]["prompt_tokens"] > 0
    assert send(api, alice, session_id).json()["usage"]["source"] == "server"  # a plain answer carries usage


def test_the_offline_provider_counts_its_usage(alice, api, open_session):
    turn = send(api, alice, open_session(alice)).json()
    assert turn["provider"] == "offline"
    assert turn["usage"]["source"] == "counted"


def test_a_refused_request_is_llm_rejected_at_once_with_its_status_and_reason(alice, api, open_session, fake_openai):
    fake_openai.script(Fault.status(400, "This model's maximum context length is 8192 tokens. You asked: Dinner?"))
    session_id = open_session(alice)
    body = assert_problem(send(api, alice, session_id), 502, "llm_rejected")
    assert body["title"] == "Model server refused the request"
    assert body["detail"].startswith(f"The model server refused the request (HTTP 400: {refusals.CONTEXT}).")
    assert "Your message was saved" in body["detail"]
    assert "Dinner?" not in body["detail"]
    assert len(fake_openai.requests) == 1  # not retried

    fake_openai.script(Fault.status(400, "No."))
    _, raw = stream(alice, session_id, "Dinner?")
    name, problem = parse_events(raw)[-1]
    assert (name, problem["code"], problem["status"]) == ("error", "llm_rejected", 502)


def test_a_shape_refused_under_a_fixed_setting_is_llm_rejected(alice, api, open_session, fake_openai, settings):
    settings.LLM_STRUCTURED_OUTPUT = "json_schema"
    fake_openai.configure(refuse="json_schema")
    body = assert_problem(send(api, alice, open_session(alice)), 502, "llm_rejected")
    assert f"(HTTP 500: {refusals.SHAPE})" in body["detail"]
    assert len(fake_openai.requests) == 1


@pytest.mark.parametrize(
    ("content", "finish_reason", "shown"),
    [
        # Cut by the token limit inside a proposal, before the reply: no card, the sentence of no cards.
        ('{"mood": "calm", "recommendations": [{"item_id": "any", "reason": "Be', "length", None),
        # Broken by the model after the reply's text began: the text read, no card.
        ('{"mood": "calm", "recommendations": [], "reply": "Warm noodles tonight.", "x": }', "stop", "Warm noodles"),
    ],
)
def test_a_reply_that_is_not_valid_json_completes_the_turn_with_the_text_read_and_no_card(
    alice, api, open_session, fake_openai, content, finish_reason, shown
):
    # Before, such a turn failed with llm_bad_response (502); the contract keeps the text guard and gives no card.
    fake_openai.set_responder(lambda body: Reply(content, finish_reason=finish_reason))
    session_id = open_session(alice)
    response = send(api, alice, session_id)
    assert response.status_code == 201, response.content
    _, raw = stream(alice, session_id, "저녁 추천해 주세요")
    name, streamed = parse_events(raw)[-1]
    assert name == "done"
    for turn in (response.json(), streamed):
        reply = turn["assistant_message"]
        assert reply["recommendations"] == []
        if shown:
            assert reply["content"] == shown + " tonight."
        else:
            assert reply["content"] in NO_CARDS
    assert api(alice).get(f"/api/v1/sessions/{session_id}").json()["message_count"] == 4
