"""The OpenAI-compatible client, answering in one piece, against the fake OpenAI server over HTTP."""

import logging
import time
from datetime import UTC, datetime

import openai
import pytest

from llm import client, grounding, prompts
from llm.errors import LLMBadResponse, LLMError, LLMRateLimited, LLMRejected, LLMTimeout, LLMUnavailable
from llm.providers import ModelRequest, OfflineInput, get_provider
from llm.reply_json import RESPONSE_FORMAT
from tests.fakes.openai import Fault, JSONReply, Reply
from tests.llm.contexts import alice
from tests.llm.support import Grounded

QUESTION = "What should I eat tonight? I'm tired."


def _request(purpose: str = "reply") -> ModelRequest:
    messages = ({"role": "system", "content": prompts.system_prompt(alice())}, {"role": "user", "content": QUESTION})
    return ModelRequest(messages=messages, purpose=purpose, max_tokens=64, offline=OfflineInput(context=alice()))


def _fails(request: ModelRequest | None = None) -> LLMError:
    """The error `complete` raises: always an llm.errors type, never one of the SDK's or the HTTP stack's."""
    with pytest.raises(LLMError) as caught:
        Grounded(get_provider()).complete(request or _request())
    assert type(caught.value).__module__ == "llm.errors"
    return caught.value


def test_a_key_or_base_url_selects_the_openai_provider(fake):
    assert isinstance(get_provider(), client.OpenAIProvider)
    assert get_provider().name == "openai"


def test_a_structured_reply_gives_the_text_the_mood_and_the_servers_usage(fake):
    usage = {"prompt_tokens": 321, "completion_tokens": 12}
    fake.script(JSONReply({"mood": "tired", "reply": "Try a warm bowl of kimchi jjigae."}, usage=usage))
    completion = Grounded(get_provider()).complete(_request())
    assert completion.text == "Try a warm bowl of kimchi jjigae."
    assert completion.mood == "tired"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (321, 12)
    assert completion.finish_reason == "stop"


def test_the_server_receives_model_messages_limit_format_and_timeout(fake):
    fake.script(JSONReply({"mood": None, "reply": "Soup."}))
    request = _request()
    Grounded(get_provider()).complete(request)
    [received] = fake.requests
    assert received.path == "/v1/chat/completions"
    assert received.body["model"] == "fake-model"
    assert received.body["messages"] == list(request.messages)
    assert received.body["max_tokens"] == 64
    assert "max_completion_tokens" not in received.body
    assert received.body["response_format"] == RESPONSE_FORMAT
    assert "stream" not in received.body
    assert received.headers["x-stainless-read-timeout"] == "0.5"
    assert received.headers["x-stainless-retry-count"] == "0"  # the SDK's own retries are off
    assert received.headers["authorization"] == "Bearer test-key"


def test_plain_text_is_the_reply_when_the_server_ignores_the_format(fake):
    fake.script(Reply("Try bibimbap tonight."))
    completion = Grounded(get_provider()).complete(_request())
    assert (completion.text, completion.mood) == ("Try bibimbap tonight.", None)


def test_an_empty_reply_is_answered_with_the_sentence_of_the_cards(fake):
    fake.script(JSONReply({"mood": "tired", "recommendations": [], "reply": ""}))
    completion = Grounded(get_provider()).complete(_request())
    assert (completion.text, completion.mood) == (grounding.repair_text(alice(), ()), "tired")


def test_a_structured_answer_without_a_reply_is_answered_with_the_sentence_of_the_cards(fake):
    fake.script(JSONReply({"mood": "happy", "answer": "Soup."}))
    completion = Grounded(get_provider()).complete(_request())
    assert (completion.text, completion.mood, completion.cards) == (grounding.repair_text(alice(), ()), "happy", ())
    assert completion.schema_valid is False


@pytest.mark.parametrize("purpose", ["fold", "summary"])
def test_fold_and_summary_ask_for_plain_text(fake, purpose):
    fake.script(Reply('She wants {"soup"}.'))
    completion = Grounded(get_provider()).complete(_request(purpose))
    assert (completion.text, completion.mood) == ('She wants {"soup"}.', None)
    assert "response_format" not in fake.requests[0].body


def test_only_a_base_url_is_enough(fake, settings):
    settings.OPENAI_API_KEY = ""
    fake.script(Reply("Hello."))
    assert Grounded(get_provider()).complete(_request()).text == "Hello."
    assert fake.requests[0].headers["authorization"] == f"Bearer {client.NO_API_KEY}"


def test_a_429_is_retried_after_its_retry_after_then_rate_limited(fake):
    fake.script_n(2, Fault.rate_limited(retry_after=0.2))
    started = time.monotonic()
    error = _fails()
    assert isinstance(error, LLMRateLimited)
    assert error.retry_after == pytest.approx(0.2)
    assert len(fake.requests) == 2
    assert fake.requests[1].received_at - fake.requests[0].received_at >= 0.19
    assert time.monotonic() - started < 2


def test_a_429_then_a_success_is_returned(fake):
    fake.script(Fault.rate_limited(retry_after=0.05), JSONReply({"mood": None, "reply": "Soup."}))
    assert Grounded(get_provider()).complete(_request()).text == "Soup."
    assert len(fake.requests) == 2


def test_a_retry_after_beyond_the_bound_fails_at_once(fake):
    fake.script(Fault.rate_limited(retry_after=30))
    started = time.monotonic()
    error = _fails()
    assert isinstance(error, LLMRateLimited)
    assert error.retry_after == 30
    assert len(fake.requests) == 1
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_then_unavailable(fake, status):
    fake.script_n(2, Fault.status(status))
    error = _fails()
    assert isinstance(error, LLMUnavailable)
    assert isinstance(error.__cause__, openai.InternalServerError)  # raised `from` the SDK's error
    assert len(fake.requests) == 2


def test_a_success_after_one_503_is_returned(fake):
    fake.script(Fault.status(503), JSONReply({"mood": "calm", "reply": "Tea?"}))
    completion = Grounded(get_provider()).complete(_request())
    assert (completion.text, completion.mood) == ("Tea?", "calm")
    assert len(fake.requests) == 2


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(400, LLMRejected), (422, LLMRejected), (401, LLMUnavailable), (403, LLMUnavailable), (404, LLMUnavailable)],
)
def test_other_client_errors_are_not_retried(fake, status, error_type):
    fake.script(Fault.status(status))
    assert type(_fails()) is error_type
    assert len(fake.requests) == 1


def test_no_answer_within_the_read_timeout_is_a_timeout_and_not_retried(fake):
    fake.script(Fault.delay(1.5))
    started = time.monotonic()
    assert isinstance(_fails(), LLMTimeout)
    assert time.monotonic() - started < 1.2
    assert len(fake.requests) == 1


def test_a_dropped_connection_is_retried_then_unavailable(fake):
    fake.script_n(2, Fault.drop())
    assert isinstance(_fails(), LLMUnavailable)
    assert len(fake.requests) == 2


def test_a_refused_connection_is_unavailable(fake, settings, closed_port):
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{closed_port}/v1"
    assert isinstance(_fails(), LLMUnavailable)


def test_a_body_cut_short_is_retried_then_unavailable(fake):
    fake.script_n(2, Fault.cut_stream())
    assert isinstance(_fails(), LLMUnavailable)


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [
        (Fault.malformed_chunk(), LLMBadResponse),  # a 200 whose body is not JSON
        (Fault.no_finish_reason(), LLMBadResponse),
        (Fault.error_chunk(), LLMUnavailable),  # answered as a 500 without streaming
    ],
)
def test_broken_answers_are_typed_errors(fake, fault, error_type):
    fake.script_n(2, fault)
    assert isinstance(_fails(), error_type)


def test_logs_carry_ids_and_counts_never_text_or_keys(fake, caplog):
    fake.script(Fault.status(503), JSONReply({"mood": None, "reply": "Secret soup recipe."}), Fault.status(400))
    with caplog.at_level(logging.INFO, logger="llm.client"):
        Grounded(get_provider()).complete(_request())
        _fails()
    events = [record.getMessage() for record in caplog.records]
    assert events == ["llm call retried", "llm call", "llm call failed"]
    assert caplog.records[1].completion_tokens > 0
    logged = " ".join(str(value) for record in caplog.records for value in record.__dict__.values())
    for secret in ("test-key", QUESTION, "Alice", "Secret soup"):
        assert secret not in logged


def test_list_models_reaches_the_endpoint(fake):
    assert get_provider().list_models() == ("fake-model",)
    assert [(r.method, r.path) for r in fake.requests] == [("GET", "/v1/models")]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("3", 3.0),
        ("0.25", 0.25),
        ("-4", 0.0),
        ("Thu, 26 Nov 2026 12:00:07 GMT", 7.0),
        ("Thu, 26 Nov 2026 11:59:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        ("nan", None),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(value, seconds):
    now = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
    assert client.parse_retry_after(value, now=now) == seconds


@pytest.mark.parametrize(
    ("base_url", "parameter"),
    [
        ("", "max_completion_tokens"),
        ("https://api.openai.com/v1", "max_completion_tokens"),
        ("http://127.0.0.1:11434/v1", "max_tokens"),
        ("https://vllm.internal:8000/v1", "max_tokens"),
    ],
)
def test_openai_itself_gets_max_completion_tokens_and_compatible_servers_max_tokens(base_url, parameter):
    assert client.max_tokens_parameter(base_url) == parameter
