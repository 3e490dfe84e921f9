"""`llm_check`: each step reported with a verdict, and never an exception; the turns it sends are the app's own."""

import re

from llm import check
from llm.reply_json import RESPONSE_FORMAT
from tests.chat.support import offered
from tests.fakes.openai import Fault, Reply, recommending_responder


def _steps(result) -> dict[str, tuple[bool, str]]:
    return {name: (ok, detail) for name, ok, detail in result.steps}


def test_offline_the_tokenizer_loads_and_the_provider_says_it_is_offline(settings):
    settings.LLM_MODEL = "gpt-4o-mini"
    result = check.run()
    steps = _steps(result)
    assert (result.ok, result.provider, result.model) == (True, "offline", "gpt-4o-mini")
    assert steps["tokenizer"][0] is True
    assert "o200k_base" in steps["tokenizer"][1]
    assert steps["provider"][0] is True
    assert "offline" in steps["provider"][1]


def test_an_answering_endpoint_completes_a_structured_turn_and_a_streamed_one(fake_openai, settings):
    settings.LLM_MODEL = "fake-model"
    fake_openai.set_responder(recommending_responder)
    result = check.run()
    steps = _steps(result)
    assert (result.ok, result.provider) == (True, "openai")
    assert steps["models"] == (True, f"GET {fake_openai.base_url}/models: 1 models, fake-model listed")
    assert steps["turn"][0] is True
    assert (
        "structured output: json_schema; the reply matches the schema, 2 of 2 candidates as cards" in steps["turn"][1]
    )
    assert steps["stream"][0] is True
    assert re.search(r"first reply text after \d+ ms, done in \d+ ms; usage sent by the server", steps["stream"][1])
    calls = [(r.method, r.path, r.body and r.body.get("stream", False)) for r in fake_openai.requests]
    assert calls == [("GET", "/v1/models", None), *[("POST", "/v1/chat/completions", s) for s in (False, True)]]
    # The app's own request: its system prompt with the two-item candidate block, and the structured reply asked for.
    body = fake_openai.requests[1].body
    assert [item_id for item_id, _ in offered(body)] == ["check-soup", "check-walk"]
    assert body["response_format"] == RESPONSE_FORMAT
    assert body["max_tokens"] == settings.LLM_REPLY_RESERVE


def test_a_server_like_llama_cpp_python_reports_the_shape_found_and_the_missing_usage(fake_openai, settings):
    settings.LLM_MODEL = "fake-model"
    fake_openai.set_responder(recommending_responder)
    fake_openai.configure(refuse="json_schema", stream_usage=False)
    result = check.run()
    steps = _steps(result)
    assert result.ok is True
    assert "structured output: json_object" in steps["turn"][1]
    assert "no usage sent (counted with the tokenizer)" in steps["stream"][1]
    shapes = [(r.body.get("response_format") or {}).get("type") for r in fake_openai.requests if r.body]
    assert shapes == ["json_schema", "json_object", "json_object"]  # refused once, then kept


def test_a_reply_outside_the_schema_is_reported(fake_openai, settings):
    settings.LLM_MODEL = "fake-model"
    fake_openai.set_responder(lambda body: Reply("Plain words, no JSON."))
    steps = _steps(check.run())
    assert steps["turn"][0] is True
    assert "the reply does not match the schema, 0 of 2 candidates as cards" in steps["turn"][1]


def test_a_failing_completion_is_reported_not_raised(fake_openai, settings):
    settings.LLM_MODEL = "missing-model"
    fake_openai.script(Fault.status(404, "The model does not exist."), Fault.status(404, "The model does not exist."))
    result = check.run()
    steps = _steps(result)
    assert result.ok is False
    assert steps["models"][0] is True
    assert "missing-model not listed" in steps["models"][1]
    assert steps["turn"][0] is False
    assert "llm_unavailable" in steps["turn"][1]
    assert steps["stream"][0] is False


def test_a_refusing_server_fails_the_check_with_llm_rejected(fake_openai, settings):
    settings.LLM_MODEL = "fake-model"
    settings.LLM_STRUCTURED_OUTPUT = "json_schema"
    fake_openai.configure(refuse="json_schema")
    result = check.run()
    steps = _steps(result)
    assert result.ok is False
    assert "llm_rejected (The model server refused the request (HTTP 500: structured output" in steps["turn"][1]


def test_an_unreachable_endpoint_fails_every_step_without_raising(settings, closed_port):
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{closed_port}/v1"
    settings.LLM_CONNECT_TIMEOUT = 0.5
    result = check.run()
    assert result.ok is False
    verdicts = [(name, ok) for name, ok, _ in result.steps]
    assert verdicts == [("tokenizer", True), ("models", False), ("turn", False), ("stream", False)]
