"""The end-to-end run's own parts (evals/e2e.py, evals/relay.py), on the fake OpenAI server and hand-made turns:
`make test` guards what `make e2e` checks."""

import json

import pytest

from evals import e2e, oracle
from evals.env import Turn
from evals.relay import Exchange, Relay
from llm.providers import Completion, ModelRequest, get_provider
from tests.fakes.openai import JSONReply
from tests.llm.support import run_async
from tests.llm.test_structured_output import ANSWER

CATALOG = {
    item.external_id: item
    for item in map(
        oracle.item_from_row,
        [
            {"external_id": "noodles", "kind": "dish", "name": "땅콩국수 (peanut noodles)", "allergens": ["peanut"]},
            {"external_id": "stew", "kind": "dish", "name": "된장찌개 (soybean stew)", "allergens": ["soy"]},
        ],
    )
}
RULES = oracle.Rules(allergies=frozenset({"peanut"}), diets=frozenset(), remaining=50_000, currency="KRW")


def _request() -> ModelRequest:
    return ModelRequest(messages=({"role": "user", "content": "Dinner?"},), purpose="reply", max_tokens=32)


def test_the_relay_passes_answers_through_and_keeps_what_the_model_produced(fake_openai, settings):
    fake_openai.set_responder(lambda body: JSONReply(ANSWER))
    fake_openai.configure(refuse="json_schema", stream_usage=False)
    with Relay(fake_openai.url) as relay:
        settings.OPENAI_BASE_URL = relay.base_url
        assert get_provider().complete(_request()).text == ANSWER["reply"]

        async def streamed() -> Completion:
            return [item async for item in get_provider().astream(_request())][-1]

        assert run_async(streamed()).text == ANSWER["reply"]
    refused, plain, stream = relay.exchanges
    assert (refused.status, e2e._shape(refused)) == (500, "json_schema")
    assert (plain.status, json.loads(plain.content), plain.usage["prompt_tokens"] > 0) == (200, ANSWER, True)
    assert (stream.status, json.loads(stream.content), stream.usage) == (200, ANSWER, None)


def test_the_model_output_is_the_last_answered_structured_request():
    answer = {
        "mood": "happy",
        "noted": None,
        "recommendations": [{"item_id": "noodles", "reason": "x"}],
        "reply": "Hi.",
    }
    exchanges = [
        Exchange("/v1/chat/completions", {"messages": [], "response_format": {"type": "json_schema"}}, 500),
        Exchange("/v1/chat/completions", {"messages": [], "response_format": {"type": "json_object"}}, 200),
    ]
    exchanges[1].content = json.dumps(answer)
    model = e2e._model_output(exchanges)
    assert (model["shape"], model["proposed"], model["schema_valid"], model["refused"]) == (
        "json_object",
        ["noodles"],
        True,
        1,
    )


@pytest.mark.parametrize(
    ("content", "malformed"),
    [
        ('{"mood": "happy", "recommendations": [], "reply": "Hi."}', False),
        ('{"mood": "happy", "recommendations": []}\nYou are allowed to suggest anything.', True),  # text after it
        ('{"mood": "happy", "recommendations": [{"item_id": "noodles", "rea', True),  # cut by the token limit
        ('{"mood": "happy", "answer": "Hi."}', True),  # no reply
    ],
)
def test_a_model_reply_that_is_not_json_with_a_reply_is_counted_as_malformed(content, malformed):
    exchange = Exchange("/v1/chat/completions", {"messages": [], "response_format": {"type": "json_object"}}, 200)
    exchange.content = content
    assert e2e._model_output([exchange])["malformed"] is malformed


@pytest.mark.parametrize(
    ("reply", "named"),
    [("Try the soybean stew.", []), ("Try 땅콩국수 tonight.", ["땅콩국수"])],
)
def test_a_reply_naming_a_dropped_proposal_is_found(reply, named):
    turn = Turn(201, {"assistant_message": {"content": reply}, "recommendations": [_card("stew")]})
    checked = e2e._check_turn(turn, {"proposed": ["noodles", "stew"]}, RULES, CATALOG)
    assert checked["dropped"] == ["noodles"]
    assert checked["dropped_named"] == sorted(named)
    assert checked["rule_breaks"] == {}


def test_a_card_breaking_a_rule_and_a_lost_reply_fail_the_verdicts():
    turn = Turn(201, {"assistant_message": {"content": "Noodles!"}, "recommendations": [_card("noodles")]})
    step = {"kind": "json", "content": "Dinner?", **e2e._check_turn(turn, {"proposed": []}, RULES, CATALOG)}
    listed = [{"seq": 1, "role": "user", "content": "Dinner?"}, {"seq": 2, "role": "assistant", "content": "Other"}]
    session = {
        "turns": [{**step, "reply": "Noodles!"}],
        "messages": e2e._lost(listed, [{**step, "reply": "Noodles!"}]),
        "mood_status": 200,
        "feedback_statuses": [200],
        "end_status": 200,
    }
    verdicts = e2e.verdicts([session])
    assert step["rule_breaks"] == {"noodles": ["allergen", "allergen_in_text"]}  # its name says peanut too
    assert verdicts == {
        "every turn completed": True,
        "every card passes every rule": False,
        "nothing lost": False,
        "no reply names a dropped item": True,
        "mood, end and every feedback sent answered": True,
    }


def _card(external_id: str) -> dict:
    return {"id": f"card-{external_id}", "item": {"external_id": external_id, "name": CATALOG[external_id].name}}
