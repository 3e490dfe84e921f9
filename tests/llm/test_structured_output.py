"""Servers that do not take every structured-output request shape, or send no streamed usage, against the fake OpenAI
server in their modes: the shape is negotiated once per process, refusals are recognised by status and body and
never retried, and usage says how it was obtained."""

import pytest

from llm import prompts, refusals, structured, tokens
from llm.answers import Answer
from llm.errors import LLMRejected, LLMUnavailable
from llm.providers import ModelRequest, OfflineInput, get_provider
from llm.reply_json import RESPONSE_FORMAT
from tests.fakes.openai import Fault, JSONReply
from tests.fakes.openai.wire import LLAMA_CPP_PYTHON_MESSAGE
from tests.llm.contexts import alice
from tests.llm.support import Grounded, run_async

ANSWER = {"mood": "tired", "noted": None, "recommendations": [], "reply": "A warm soup tonight."}


def _request() -> ModelRequest:
    messages = ({"role": "system", "content": prompts.system_prompt(alice())}, {"role": "user", "content": "Dinner?"})
    return ModelRequest(messages=messages, purpose="reply", max_tokens=64, offline=OfflineInput(context=alice()))


def _streamed(request: ModelRequest) -> Answer:
    async def run() -> Answer:
        items = [item async for item in Grounded(get_provider()).astream(request)]
        assert isinstance(items[-1], Answer)
        return items[-1]

    return run_async(run())


def _shapes(fake) -> list[str]:
    """The structured-output shape of each request the fake received."""
    shapes = []
    for received in fake.requests:
        kind = (received.body.get("response_format") or {}).get("type")
        in_prompt = structured.SCHEMA_INSTRUCTION in received.body["messages"][0]["content"]
        shapes.append(kind or ("prompt" if in_prompt else "none"))
    return shapes


@pytest.fixture
def answers(fake):
    fake.set_responder(lambda body: JSONReply(ANSWER))
    return fake


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_server_refusing_json_schema_gets_json_object_with_the_schema_once_per_process(answers, stream):
    answers.configure(refuse="json_schema")
    call = _streamed if stream else get_provider().complete
    for _ in range(3):
        completion = call(_request())
        assert (completion.text, completion.mood, completion.schema_valid) == (ANSWER["reply"], "tired", True)
    assert _shapes(answers) == ["json_schema", "json_object", "json_object", "json_object"]
    assert answers.requests[1].body["response_format"] == {"type": "json_object", "schema": structured.SCHEMA}
    assert structured.SCHEMA is RESPONSE_FORMAT["json_schema"]["schema"]  # one declaration of the schema


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_server_refusing_every_response_format_gets_the_schema_in_the_prompt(answers, stream):
    answers.configure(refuse="response_format")
    call = _streamed if stream else get_provider().complete
    for _ in range(2):
        assert call(_request()).text == ANSWER["reply"]
    assert _shapes(answers) == ["json_schema", "json_object", "prompt", "prompt"]
    system = answers.requests[-1].body["messages"][0]["content"]
    assert system == f"{_request().messages[0]['content']}\n\n{structured.SCHEMA_INSTRUCTION}"


def test_the_shape_is_kept_per_endpoint_and_model(answers, settings):
    answers.configure(refuse="json_schema")
    Grounded(get_provider()).complete(_request())
    settings.LLM_MODEL = "another-model"
    Grounded(get_provider()).complete(_request())
    assert _shapes(answers) == ["json_schema", "json_object", "json_schema", "json_object"]


def test_fold_and_summary_requests_are_never_shaped(answers):
    answers.configure(refuse="response_format")
    request = ModelRequest(messages=({"role": "user", "content": "Summarize."},), purpose="summary", max_tokens=8)
    Grounded(get_provider()).complete(request)
    assert _shapes(answers) == ["none"]


@pytest.mark.parametrize(("setting", "shape"), [("json_object", "json_object"), ("prompt", "prompt")])
def test_a_fixed_setting_asks_in_that_shape_only(answers, settings, setting, shape):
    settings.LLM_STRUCTURED_OUTPUT = setting
    assert Grounded(get_provider()).complete(_request()).text == ANSWER["reply"]
    assert _shapes(answers) == [shape]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_fixed_shape_the_server_refuses_is_rejected_at_once(answers, settings, stream):
    settings.LLM_STRUCTURED_OUTPUT = "json_schema"
    answers.configure(refuse="json_schema")
    with pytest.raises(LLMRejected) as caught:
        (_streamed if stream else get_provider().complete)(_request())
    assert (caught.value.status, caught.value.reason) == (500, refusals.SHAPE)
    assert caught.value.code == "llm_rejected"
    assert len(answers.requests) == 1  # a 500, but a refusal: never retried


@pytest.mark.parametrize(
    "fault",
    [
        Fault.status(400, "This model's maximum context length is 8192 tokens. However, you requested 9036 tokens."),
        Fault.status(500, LLAMA_CPP_PYTHON_MESSAGE.replace("response_format', 'type", "max_tokens")),
        Fault.status(422, "Invalid value for 'temperature'."),
    ],
    ids=["context", "validation-500", "422"],
)
def test_a_refusal_not_about_the_shape_is_rejected_at_once_and_keeps_the_shape(answers, fault):
    answers.script(fault)
    with pytest.raises(LLMRejected) as caught:
        Grounded(get_provider()).complete(_request())
    error = caught.value
    assert error.status == fault.status_code
    assert error.reason in (refusals.CONTEXT, refusals.PARAMETERS, refusals.REFUSED)
    # Our words only: the server's message may quote the request.
    assert error.detail == f"The model server refused the request (HTTP {error.status}: {error.reason})."
    Grounded(get_provider()).complete(_request())
    assert _shapes(answers) == ["json_schema", "json_schema"]  # no retry, and no other shape tried


def test_a_plain_server_error_is_still_retried_then_unavailable(answers):
    answers.script_n(2, Fault.status(500, "Internal error while generating."))
    with pytest.raises(LLMUnavailable):
        Grounded(get_provider()).complete(_request())
    assert _shapes(answers) == ["json_schema", "json_schema"]


@pytest.mark.parametrize("stream_usage", [True, False], ids=["server", "counted"])
def test_a_stream_without_usage_is_counted_and_says_so(answers, stream_usage):
    answers.configure(stream_usage=stream_usage)
    completion = _streamed(_request())
    [received] = answers.requests
    assert completion.text == ANSWER["reply"]
    if stream_usage:
        assert completion.usage.source == "server"
    else:
        assert completion.usage.source == "counted"
        assert completion.usage.prompt_tokens == tokens.count_request(received.body["messages"], model="fake-model")
        assert completion.usage.completion_tokens == tokens.count_text(ANSWER["reply"], model="fake-model")


def test_an_answer_outside_the_schema_is_no_error_but_not_valid(answers):
    answers.set_responder(lambda body: JSONReply({"mood": "Tuna", "recommendations": [], "reply": "Hi."}))
    completion = Grounded(get_provider()).complete(_request())
    assert (completion.text, completion.mood, completion.schema_valid) == ("Hi.", None, False)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (ANSWER, True),
        ({**ANSWER, "mood": None, "recommendations": [{"item_id": "a", "reason": "b"}]}, True),
        ({**ANSWER, "mood": "Tuna"}, False),
        ({"mood": None, "reply": "Hi."}, False),
        ({**ANSWER, "extra": 1}, False),
        ({**ANSWER, "recommendations": [{"item_id": 3, "reason": "b"}]}, False),
        ({**ANSWER, "recommendations": [{"item_id": "a"}]}, False),
        ([ANSWER], False),
        (None, False),
    ],
)
def test_conforms_checks_the_reply_schema(value, valid):
    assert structured.conforms(value) is valid


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (500, {"message": LLAMA_CPP_PYTHON_MESSAGE % "json_schema"}, (refusals.SHAPE, True)),
        (400, {"message": "Unrecognized request argument supplied: response_format"}, (refusals.SHAPE, True)),
        (422, {"detail": [{"loc": ["body", "response_format"], "msg": "Extra inputs"}]}, (refusals.SHAPE, True)),
        (400, {"message": "too long", "code": "context_length_exceeded"}, (refusals.CONTEXT, False)),
        (500, {"message": LLAMA_CPP_PYTHON_MESSAGE.replace("response_format", "top_p")}, (refusals.PARAMETERS, False)),
        (400, {"message": "No."}, (refusals.REFUSED, False)),
        (500, {"message": "CUDA out of memory"}, None),
        (503, {"message": "Input should be 'text'"}, None),
        (429, {"message": "response_format"}, None),
        (401, {"message": "Invalid key"}, None),
        (404, {"message": "no such model"}, None),
    ],
)
def test_a_refusal_is_read_from_status_and_body(status, body, expected):
    refusal = refusals.refusal_of(status, body)
    assert (None if refusal is None else (refusal.reason, refusal.shape)) == expected
