"""The OpenAI-compatible client, streaming, against the fake OpenAI server over HTTP."""

import asyncio
import json
import time

import pytest

from llm import prompts
from llm.answers import Answer
from llm.errors import LLMBadResponse, LLMError, LLMRateLimited, LLMTimeout, LLMUnavailable
from llm.providers import ModelRequest, OfflineInput, get_provider
from llm.reply_json import RESPONSE_FORMAT
from tests.fakes.openai import PARTIAL_TEXT, Fault, JSONReply, Reply
from tests.llm.contexts import alice
from tests.llm.support import Grounded

REPLY = 'Try "kimchi jjigae" tonight.\nIt\'s warm \\ cosy — 따뜻해요 😀'


def _request(purpose: str = "reply") -> ModelRequest:
    messages = ({"role": "system", "content": prompts.system_prompt(alice())}, {"role": "user", "content": "Dinner?"})
    return ModelRequest(messages=messages, purpose=purpose, max_tokens=64, offline=OfflineInput(context=alice()))


def _json_chunks(answer: dict, size: int = 4) -> list[str]:
    """The answer as the model would stream it: small pieces, escapes and surrogate pairs cut anywhere."""
    raw = json.dumps(answer)
    return [raw[i : i + size] for i in range(0, len(raw), size)]


def _stream(request: ModelRequest | None = None) -> tuple[list[tuple[float, str]], Answer]:
    """Run one stream to its end: the deltas with when each arrived, and the final Answer."""

    async def collect():
        deltas, completion = [], None
        async for item in Grounded(get_provider()).astream(request or _request()):
            assert completion is None, "nothing may follow the Answer"
            if isinstance(item, Answer):
                completion = item
            else:
                deltas.append((time.monotonic(), item))
        assert completion is not None, "a stream ends with one Answer"
        return deltas, completion

    return asyncio.run(collect())


def _stream_fails(request: ModelRequest | None = None) -> tuple[list[str], LLMError]:
    """The deltas a failing stream yielded before its error, which is always an llm.errors type."""
    deltas: list[str] = []

    async def collect():
        async for item in Grounded(get_provider()).astream(request or _request()):
            deltas.append(item)

    with pytest.raises(LLMError) as caught:
        asyncio.run(collect())
    assert type(caught.value).__module__ == "llm.errors"
    return deltas, caught.value


def test_reply_text_arrives_in_deltas_as_the_model_writes_it(fake):
    answer = {"mood": "happy", "reply": REPLY}
    fake.script(JSONReply(answer, chunks=_json_chunks(answer), chunk_delay=0.01))
    deltas, completion = _stream()
    assert len(deltas) > 5
    assert "".join(text for _, text in deltas) == REPLY
    assert completion.text == REPLY
    assert completion.mood == "happy"
    assert completion.finish_reason == "stop"
    # The first words were out long before the last: the deltas were not held back until the end.
    assert deltas[-1][0] - deltas[0][0] > 0.1


def test_the_stream_request_asks_for_usage_and_the_structured_reply(fake):
    fake.script(JSONReply({"mood": None, "reply": "Soup."}, usage={"prompt_tokens": 99, "completion_tokens": 3}))
    request = _request()
    _, completion = _stream(request)
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (99, 3)
    body = fake.requests[0].body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["response_format"] == RESPONSE_FORMAT
    assert body["model"] == "fake-model"
    assert body["messages"] == list(request.messages)
    assert body["max_tokens"] == 64


def test_plain_text_streams_as_is_when_the_server_ignores_the_format(fake):
    fake.script(Reply("Try bibimbap near Mapo-gu tonight."))
    deltas, completion = _stream()
    assert len(deltas) > 1
    assert "".join(text for _, text in deltas) == completion.text == "Try bibimbap near Mapo-gu tonight."
    assert completion.mood is None


@pytest.mark.parametrize("purpose", ["fold", "summary"])
def test_fold_and_summary_stream_plain_text(fake, purpose):
    fake.script(Reply('She wants {"soup"}.'))
    deltas, completion = _stream(_request(purpose))
    assert "".join(text for _, text in deltas) == completion.text == 'She wants {"soup"}.'
    assert "response_format" not in fake.requests[0].body


def test_a_reply_that_cannot_stream_is_sent_whole_at_the_end(fake):
    answer = {"meta": {"source": "x" * 1100}, "mood": "calm", "reply": "Tea?"}
    fake.script(JSONReply(answer, chunks=_json_chunks(answer, 100)))
    deltas, completion = _stream()
    assert [text for _, text in deltas] == ["Tea?"]
    assert (completion.text, completion.mood) == ("Tea?", "calm")


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [
        (Fault.cut_stream(after_chunks=2), LLMUnavailable),  # the connection drops mid-stream
        (Fault.malformed_chunk(after_chunks=2), LLMBadResponse),
        (Fault.error_chunk(after_chunks=2), LLMUnavailable),  # the server reports an error mid-stream
        (Fault.no_finish_reason(content=PARTIAL_TEXT), LLMBadResponse),
    ],
)
def test_a_stream_broken_after_deltas_is_a_typed_error_and_not_retried(fake, fault, error_type):
    fake.script(fault, Reply("A retry must not happen."))
    deltas, error = _stream_fails()
    assert isinstance(error, error_type)
    assert deltas
    assert PARTIAL_TEXT.startswith("".join(deltas))
    assert len(fake.requests) == 1


def test_a_stream_broken_before_any_delta_is_retried(fake):
    fake.script(Fault.cut_stream(after_chunks=0), Reply("Second try."))
    deltas, completion = _stream()
    assert "".join(text for _, text in deltas) == completion.text == "Second try."
    assert len(fake.requests) == 2


def test_a_dropped_connection_is_retried_then_unavailable(fake):
    fake.script_n(2, Fault.drop())
    deltas, error = _stream_fails()
    assert isinstance(error, LLMUnavailable)
    assert deltas == []
    assert len(fake.requests) == 2


def test_a_success_after_one_503_is_streamed(fake):
    fake.script(Fault.status(503), JSONReply({"mood": None, "reply": "Soup."}))
    _, completion = _stream()
    assert completion.text == "Soup."
    assert len(fake.requests) == 2


def test_a_429_beyond_the_bound_fails_at_once(fake):
    fake.script(Fault.rate_limited(retry_after=30))
    _, error = _stream_fails()
    assert isinstance(error, LLMRateLimited)
    assert error.retry_after == 30
    assert len(fake.requests) == 1


def test_no_answer_within_the_read_timeout_is_a_timeout(fake):
    fake.script(Fault.delay(1.5))
    started = time.monotonic()
    _, error = _stream_fails()
    assert isinstance(error, LLMTimeout)
    assert time.monotonic() - started < 1.2


def test_a_stall_between_chunks_is_a_timeout(fake):
    fake.script(Reply("Slow words arrive here", chunk_delay=1.0))
    _, error = _stream_fails()
    assert isinstance(error, LLMTimeout)
    assert len(fake.requests) == 1


def test_a_consumer_may_stop_after_the_first_delta(fake):
    fake.script(Reply("One two three four five six", chunk_delay=0.05))

    async def first_delta():
        stream = Grounded(get_provider()).astream(_request())
        first = await anext(stream)
        await stream.aclose()
        return first

    assert asyncio.run(first_delta()) == "One"


def test_each_event_loop_gets_a_working_client(fake):
    fake.script(Reply("First."), Reply("Second."))
    assert _stream()[1].text == "First."
    assert _stream()[1].text == "Second."  # a new asyncio.run: another loop, another client
