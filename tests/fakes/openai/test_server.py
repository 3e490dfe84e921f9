"""The fake OpenAI server, exercised with the real ``openai`` client (sync and async).

Each test shows that a scripted reply or fault reaches the client as the real API's would, so
tests elsewhere can rely on the fake. No Django, no database, no Redis.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from tests.fakes.openai import (
    DEFAULT_REPLY_TEXT,
    FakeOpenAI,
    Fault,
    JSONReply,
    Reply,
    ToolCallReply,
    item_from_spec,
)

pytestmark = pytest.mark.timeout(30)

REPO_ROOT = Path(__file__).resolve().parents[3]
MESSAGES: list[Any] = [
    {"role": "system", "content": "You recommend products."},
    {"role": "user", "content": "Something for rainy days?"},
]


def expected_prompt_tokens(messages: list[Any]) -> int:
    return sum(len(m["content"]) // 4 + 4 for m in messages) + 3


@pytest.fixture(autouse=True)
def _flush_test_redis() -> None:
    """Overrides the suite-wide Redis flush: the fake server needs neither Redis nor Django."""


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(models=("fake-model", "fake-model-mini")) as server:
        yield server


def make_client(fake: FakeOpenAI, timeout: float = 2.0) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=fake.base_url, api_key="test", max_retries=0, timeout=openai.Timeout(timeout, connect=1.0)
    )


@pytest.fixture
def client(fake: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with make_client(fake) as c:
        yield c


def stream_chunks(client: openai.OpenAI, **kw: Any) -> list[Any]:
    return list(client.chat.completions.create(model="fake-model", messages=MESSAGES, stream=True, **kw))


def collect(stream: Iterable[Any], received: list[Any]) -> None:
    """Iterate a stream, keeping what arrived before it fails."""
    received.extend(stream)


def post_json(url: str, payload: Any) -> Any:
    request = urllib.request.Request(  # noqa: S310 - the local fake's http URL
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - the local fake's http URL
        return json.load(response)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - the local fake's http URL
        return json.load(response)


# -- text, JSON and tool-call replies ---------------------------------------------------------


def test_text_reply_non_stream(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(Reply("Try a waterproof jacket."))

    completion = client.chat.completions.create(model="fake-model-mini", messages=MESSAGES)

    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "fake-model-mini"  # echoes the request
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "Try a waterproof jacket."
    assert choice.message.tool_calls is None
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == expected_prompt_tokens(MESSAGES)
    assert completion.usage.completion_tokens == len("Try a waterproof jacket.") // 4
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


def test_text_reply_stream_reassembles_with_usage(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(Reply("Boots, an umbrella and tea.", usage={"prompt_tokens": 7, "completion_tokens": 5}))

    chunks = stream_chunks(client, stream_options={"include_usage": True})

    assert chunks[0].choices[0].delta.role == "assistant"
    content_chunks = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) > 1
    assert "".join(content_chunks) == "Boots, an umbrella and tea."
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]
    *_, usage_chunk = chunks
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert (usage_chunk.usage.prompt_tokens, usage_chunk.usage.completion_tokens) == (7, 5)
    assert usage_chunk.usage.total_tokens == 12
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_chunks_override_and_no_usage_without_include_usage(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(Reply("abcdef", chunks=["ab", "cd", "ef"]))

    chunks = stream_chunks(client)

    assert [c.choices[0].delta.content for c in chunks[1:-1]] == ["ab", "cd", "ef"]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None and c.choices for c in chunks)


def test_script_is_fifo_then_default_reply(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(Reply("first"), Reply("second"))
    fake.script_n(2, Reply("again"))
    assert fake.pending == 4

    contents = [
        client.chat.completions.create(model="fake-model", messages=MESSAGES).choices[0].message.content
        for _ in range(5)
    ]

    assert contents == ["first", "second", "again", "again", DEFAULT_REPLY_TEXT]
    assert fake.pending == 0


def test_hold_keeps_requests_unanswered_until_release(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(Reply("held one"), Reply("held two"))
    fake.hold()

    def ask() -> str:
        return client.chat.completions.create(model="fake-model", messages=MESSAGES).choices[0].message.content

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(ask) for _ in range(2)]
        fake.wait_for_requests(2)  # both arrived and are logged
        deadline = time.monotonic() + 5
        while fake.held < 2:
            assert time.monotonic() < deadline, "the requests were not held"
            time.sleep(0.01)
        time.sleep(0.1)
        assert not any(f.done() for f in futures)  # held: nothing answered yet
        fake.release()
        assert sorted(f.result(timeout=5) for f in futures) == ["held one", "held two"]
    assert fake.held == 0
    assert ask() == DEFAULT_REPLY_TEXT  # released: no more holding


def test_json_reply_parses(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    payload = {"products": [{"sku": "UMB-1", "score": 0.9}], "reason": "rain"}
    fake.script(JSONReply(payload))

    completion = client.chat.completions.create(
        model="fake-model", messages=MESSAGES, response_format={"type": "json_object"}
    )

    assert json.loads(completion.choices[0].message.content or "") == payload
    assert fake.requests[0].body["response_format"] == {"type": "json_object"}


def test_tool_call_non_stream(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(ToolCallReply("search_products", {"query": "umbrella", "limit": 3}, call_id="call_42"))

    completion = client.chat.completions.create(model="fake-model", messages=MESSAGES)

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.id == "call_42"
    assert call.type == "function"
    assert call.function.name == "search_products"
    assert json.loads(call.function.arguments) == {"query": "umbrella", "limit": 3}


def test_tool_call_stream(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(ToolCallReply("search_products", {"query": "umbrella", "limit": 3}))

    chunks = stream_chunks(client)

    deltas = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].id == "call_1"
    assert deltas[0].function is not None
    assert deltas[0].function.name == "search_products"
    assert len(deltas) > 2  # arguments arrive in pieces
    arguments = "".join((d.function.arguments or "") for d in deltas if d.function)
    assert json.loads(arguments) == {"query": "umbrella", "limit": 3}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


# -- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_rate_limited(fake: FakeOpenAI, client: openai.OpenAI, stream: bool) -> None:
    fake.script(Fault.rate_limited(retry_after=2))

    with pytest.raises(openai.RateLimitError) as excinfo:
        client.chat.completions.create(model="fake-model", messages=MESSAGES, stream=stream)

    assert excinfo.value.status_code == 429
    assert excinfo.value.response.headers["retry-after"] == "2"
    assert excinfo.value.code == "rate_limit_exceeded"


@pytest.mark.parametrize(
    ("code", "error_class"),
    [
        (500, openai.InternalServerError),
        (502, openai.InternalServerError),
        (503, openai.InternalServerError),
        (400, openai.BadRequestError),
    ],
)
def test_error_status(
    fake: FakeOpenAI, client: openai.OpenAI, code: int, error_class: type[openai.APIStatusError]
) -> None:
    fake.script(Fault.status(code, "Scripted failure."))

    with pytest.raises(error_class) as excinfo:
        client.chat.completions.create(model="fake-model", messages=MESSAGES)

    assert excinfo.value.status_code == code
    assert "Scripted failure." in excinfo.value.message


def test_delay_past_timeout(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(Fault.delay(1.5))
    started = time.monotonic()

    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.3).chat.completions.create(model="fake-model", messages=MESSAGES)

    assert time.monotonic() - started < 1.2


def test_delay_within_timeout_answers_normally(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(Fault.delay(0.2))
    started = time.monotonic()

    completion = client.chat.completions.create(model="fake-model", messages=MESSAGES)

    assert time.monotonic() - started >= 0.2
    assert completion.choices[0].message.content == DEFAULT_REPLY_TEXT


@pytest.mark.parametrize("stream", [False, True])
def test_drop(fake: FakeOpenAI, client: openai.OpenAI, stream: bool) -> None:
    fake.script(Fault.drop())

    with pytest.raises(openai.APIConnectionError) as excinfo:
        client.chat.completions.create(model="fake-model", messages=MESSAGES, stream=stream)

    assert isinstance(excinfo.value.__cause__, httpx2.RemoteProtocolError)
    # The server survives and keeps answering.
    assert client.chat.completions.create(model="fake-model", messages=MESSAGES).choices[0].message.content


def test_cut_stream_raises_connection_error_after_partial_content(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    """The stream is chunked, so closing it early is an incomplete body: this client raises
    APIConnectionError (caused by httpx2.RemoteProtocolError) while iterating, after yielding the
    chunks that did arrive; no chunk carried a finish_reason."""
    fake.script(Fault.cut_stream(after_chunks=2, content="one two three four"))
    received: list[Any] = []

    stream = client.chat.completions.create(model="fake-model", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIConnectionError) as excinfo:
        collect(stream, received)

    assert isinstance(excinfo.value.__cause__, httpx2.RemoteProtocolError)
    assert [c.choices[0].delta.content for c in received] == ["", "one", " two"]
    assert all(c.choices[0].finish_reason is None for c in received)


def test_malformed_chunk_raises_json_decode_error(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    """This client parses each event with json.loads and lets the JSONDecodeError escape as is."""
    fake.script(Fault.malformed_chunk(after_chunks=1, content="partial"))
    received: list[Any] = []

    stream = client.chat.completions.create(model="fake-model", messages=MESSAGES, stream=True)
    with pytest.raises(json.JSONDecodeError):
        collect(stream, received)

    assert [c.choices[0].delta.content for c in received] == ["", "partial"]


def test_error_chunk_raises_api_error(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(Fault.error_chunk("Model overloaded mid-stream.", after_chunks=2))
    received: list[Any] = []

    stream = client.chat.completions.create(model="fake-model", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError) as excinfo:
        collect(stream, received)

    assert type(excinfo.value) is openai.APIError  # not a status error: the status was 200
    assert excinfo.value.message == "Model overloaded mid-stream."
    assert len(received) == 3  # the role chunk and two content chunks


def test_no_finish_reason_stream_just_ends(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(Fault.no_finish_reason(content="It simply stops"))

    chunks = stream_chunks(client, stream_options={"include_usage": True})

    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "It simply stops"
    assert all(c.choices and c.choices[0].finish_reason is None for c in chunks)


@pytest.mark.parametrize(
    ("fault", "outcome"),
    [
        (Fault.cut_stream(), openai.APIConnectionError),  # half of the declared body, then close
        (Fault.malformed_chunk(), json.JSONDecodeError),  # a 200 body that is not JSON
        (Fault.error_chunk("boom"), openai.InternalServerError),  # a 500
        (Fault.no_finish_reason(), None),  # a completion whose finish_reason is null
    ],
)
def test_stream_faults_on_plain_requests(
    fake: FakeOpenAI, client: openai.OpenAI, fault: Fault, outcome: type[Exception] | None
) -> None:
    fake.script(fault)

    if outcome is None:
        completion = client.chat.completions.create(model="fake-model", messages=MESSAGES)
        assert completion.choices[0].finish_reason is None
    else:
        with pytest.raises(outcome):
            client.chat.completions.create(model="fake-model", messages=MESSAGES)


def test_stream_abandoned_by_client_leaves_server_healthy(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(Reply("slow " * 20, chunk_delay=0.05))

    with client.chat.completions.create(model="fake-model", messages=MESSAGES, stream=True) as stream:
        next(iter(stream))  # then close mid-stream: the server's next writes hit a closed socket

    time.sleep(0.2)
    assert client.chat.completions.create(model="fake-model", messages=MESSAGES).choices[0].message.content


# -- request log, responder, concurrency ------------------------------------------------------


def test_request_log_records_exact_request(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    before = time.time()
    client.chat.completions.create(model="fake-model", messages=MESSAGES, temperature=0.2)

    (request,) = fake.wait_for_requests(1, timeout=2)
    assert request.method == "POST"
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer test"
    assert request.headers["content-type"] == "application/json"
    assert request.body == {"model": "fake-model", "messages": MESSAGES, "temperature": 0.2}
    assert before <= request.received_at <= time.time()

    with pytest.raises(TimeoutError):
        fake.wait_for_requests(2, timeout=0.1)


def test_responder_answers_from_the_request_concurrently(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    def echo(body: dict[str, Any]) -> Reply:
        return Reply(f"echo: {body['messages'][-1]['content']}", delay=0.05)

    fake.set_responder(echo)
    fake.script(Reply("scripted first"))

    def ask(i: int) -> str | None:
        messages = [{"role": "user", "content": f"question {i}"}]
        stream = client.chat.completions.create(model="fake-model", messages=messages, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in stream)

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(ask, range(40)))

    assert len(fake.requests) == 40
    assert answers.count("scripted first") == 1  # whichever request came first
    assert all(a in ("scripted first", f"echo: question {i}") for i, a in enumerate(answers))


def test_async_client_concurrent_streams(fake: FakeOpenAI) -> None:
    fake.set_responder(lambda body: Reply(f"async {body['messages'][0]['content']}", chunk_delay=0.01))

    async def run() -> list[tuple[str, str | None]]:
        async with openai.AsyncOpenAI(
            base_url=fake.base_url, api_key="test", max_retries=0, timeout=openai.Timeout(2.0, connect=1.0)
        ) as aclient:

            async def one(i: int) -> tuple[str, str | None]:
                stream = await aclient.chat.completions.create(
                    model="fake-model",
                    messages=[{"role": "user", "content": str(i)}],
                    stream=True,
                    stream_options={"include_usage": True},
                )
                text, finish = "", None
                async for chunk in stream:
                    if chunk.choices:
                        text += chunk.choices[0].delta.content or ""
                        finish = chunk.choices[0].finish_reason or finish
                return text, finish

            return await asyncio.gather(*(one(i) for i in range(10)))

    results = asyncio.run(run())

    assert results == [(f"async {i}", "stop") for i in range(10)]


# -- knobs, models, reset ---------------------------------------------------------------------


def test_models_endpoint(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["fake-model", "fake-model-mini"]
    assert client.models.retrieve("fake-model-mini").id == "fake-model-mini"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("missing")
    assert fake.requests[0].path == "/v1/models"


def test_benchmark_pacing_and_latency(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.configure(latency=0.1, stream_tokens_per_second=50, stream_duration=0.4)
    started = time.monotonic()
    first_at = None
    tokens = []
    for chunk in client.chat.completions.create(model="fake-model", messages=MESSAGES, stream=True):
        first_at = first_at or time.monotonic()
        if chunk.choices and chunk.choices[0].delta.content:
            tokens.append(chunk.choices[0].delta.content)
    elapsed = time.monotonic() - started

    assert len(tokens) == 20  # 50 tokens/s for 0.4 s
    assert first_at is not None
    assert first_at - started >= 0.1  # latency before the first byte
    assert 0.45 <= elapsed < 2.0


def test_reset_clears_everything(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(Fault.status(500))
    fake.set_responder(lambda body: Reply("from responder"))
    client.models.list()
    fake.configure(latency=5.0, stream_tokens_per_second=1.0)

    fake.reset()

    assert (fake.pending, fake.requests, fake.latency, fake.stream_tokens_per_second) == (0, [], 0.0, None)
    reply = client.chat.completions.create(model="fake-model", messages=MESSAGES)
    assert reply.choices[0].message.content == DEFAULT_REPLY_TEXT


def test_stop_closes_idle_keep_alive_connections_quickly() -> None:
    server = FakeOpenAI().start()
    with make_client(server) as c:
        c.chat.completions.create(model="fake-model", messages=MESSAGES)  # leaves a pooled connection
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 1.0
        with pytest.raises(openai.APIConnectionError):
            c.chat.completions.create(model="fake-model", messages=MESSAGES)
    server.stop()  # idempotent


# -- control API and CLI ----------------------------------------------------------------------


def test_item_from_spec() -> None:
    assert item_from_spec({"type": "reply", "content": "hi", "chunk_delay": 0.1}) == Reply("hi", chunk_delay=0.1)
    assert item_from_spec({"type": "json", "obj": {"a": 1}}) == Reply('{"a": 1}')
    assert item_from_spec({"type": "tool_call", "name": "f", "arguments": {"x": 1}}) == ToolCallReply("f", {"x": 1})
    assert item_from_spec({"type": "fault", "kind": "rate_limited", "retry_after": 2}) == Fault.rate_limited(2)
    assert item_from_spec({"type": "fault", "kind": "status", "code": 502}) == Fault.status(502)
    assert item_from_spec({"type": "fault", "kind": "drop"}) == Fault.drop()
    for bad in ({"type": "nope"}, {"type": "fault", "kind": "nope"}, {"type": "reply", "bogus": 1}, {}):
        with pytest.raises(ValueError, match=r"."):
            item_from_spec(bad)


def test_control_api(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    queued = post_json(
        f"{fake.url}/_fake/script",
        [
            {"type": "reply", "content": "scripted over HTTP"},
            {"type": "fault", "kind": "rate_limited", "retry_after": 3, "repeat": 2},
        ],
    )
    assert queued == {"queued": 3, "pending": 3}

    assert client.chat.completions.create(model="fake-model", messages=MESSAGES).choices[0].message.content == (
        "scripted over HTTP"
    )
    for _ in range(2):
        with pytest.raises(openai.RateLimitError) as excinfo:
            client.chat.completions.create(model="fake-model", messages=MESSAGES)
        assert excinfo.value.response.headers["retry-after"] == "3"

    logged = get_json(f"{fake.url}/_fake/requests")
    assert [r["body"]["messages"] for r in logged] == [MESSAGES] * 3
    assert logged[0]["headers"]["authorization"] == "Bearer test"

    config = post_json(f"{fake.url}/_fake/config", {"latency": 0.05, "stream_tokens_per_second": 100})
    assert (config["latency"], config["stream_tokens_per_second"], fake.latency) == (0.05, 100.0, 0.05)

    with pytest.raises(urllib.error.HTTPError) as excinfo_bad:
        post_json(f"{fake.url}/_fake/script", [{"type": "fault", "kind": "unknown"}])
    assert excinfo_bad.value.code == 400

    post_json(f"{fake.url}/_fake/reset", {})
    assert (fake.requests, fake.pending, fake.latency, fake.stream_tokens_per_second) == ([], 0, 0.0, None)


def test_cli_prints_port_and_serves() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai", "--port", "0", "--model", "cli-model"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("PORT=")
        port = int(line.removeprefix("PORT="))
        with openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="test", max_retries=0, timeout=2.0
        ) as cli_client:
            assert [m.id for m in cli_client.models.list()] == ["cli-model"]
            reply = cli_client.chat.completions.create(model="cli-model", messages=MESSAGES)
            assert reply.choices[0].message.content == DEFAULT_REPLY_TEXT
    finally:
        process.terminate()
        returncode = process.wait(timeout=10)
    assert returncode == 0
