"""Chat completions over the SDK's low-level request path, without its per-call costs (llm/client.py's transport).

`chat.completions.create` walks the whole request body against the SDK's TypedDicts before sending it (about
0.14 ms per message of the window), and its stream builds a pydantic `ChatCompletionChunk` for every chunk (about
90 us each). Here the body is serialized once (orjson) and sent with the client's `post(..., cast_to=httpx2.Response)`,
which keeps what the SDK does around a request (authentication and default headers, the client's timeouts, status
errors raised as `openai.APIStatusError` with the response, connection failures as `openai.APIConnectionError`,
timeouts as `openai.APITimeoutError`), and the answer is read as plain JSON: one object, or a stream of `data:` lines,
each parsed with orjson.

What leaves: the SDK's exceptions as its own call would raise them, httpx2 errors from reading a stream, an
`openai.APIError` for an `{"error": ...}` event inside a stream (as the SDK's stream raises it), and ValueError for a
body or chunk that is not JSON or not shaped as a chat completion. llm/client.py maps them all (`translate_error`).
"""

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
import orjson

PATH = "/chat/completions"


def encode(body: dict[str, Any]) -> bytes:
    """The request body as sent, built once per call and reused by its retries. Text orjson cannot encode (a lone
    surrogate, which a JSON request may carry as "\\ud800") goes through the standard library, escaped as the SDK
    would send it."""
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError:
        return json.dumps(body).encode()


def complete(client: openai.OpenAI, content: bytes, *, timeout: openai.Timeout | None = None) -> dict[str, Any]:
    """One chat completion, as the decoded JSON object the endpoint answered (the client's default headers say
    `Content-Type: application/json`); with `timeout`, instead of the client's."""
    options: Any = {"timeout": timeout} if timeout is not None else {}
    response = client.post(PATH, content=content, cast_to=httpx2.Response, options=options)
    answer = _loads(response.content)
    if not isinstance(answer, dict):
        raise ValueError("the answer is not a JSON object")
    return answer


async def stream(client: openai.AsyncOpenAI, content: bytes) -> AsyncIterator[dict[str, Any]]:
    """The chunks of a streamed chat completion, decoded, until `data: [DONE]` or the end of the body."""
    response = await client.post(PATH, content=content, cast_to=httpx2.Response, stream=True)
    pieces = response.aiter_bytes()
    try:
        async for data in _events(pieces):
            if data == b"[DONE]":
                # The rest of the body (the chunked encoding's end) is read, so that the connection can be reused.
                async for _ in pieces:
                    pass
                break
            chunk = _loads(data)
            if not isinstance(chunk, dict):
                raise ValueError("a stream chunk is not a JSON object")
            if error := chunk.get("error"):
                raise openai.APIError(_error_message(error), response.request, body=error)
            yield chunk
    finally:
        await response.aclose()


def _loads(data: bytes) -> Any:
    """JSON decoded by orjson; by the standard library when orjson refuses it, which it does for an escaped lone
    surrogate ("\\ud800") that json keeps as a code point (the reply shows U+FFFD in its place, see
    tests/reliability/test_model_text.py). Text that is not JSON fails both: json's ValueError leaves."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


async def _events(pieces: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The data of each server-sent event (its `data:` lines joined by newlines), as bytes arrive in `pieces`."""
    buffer = b""
    data: list[bytes] = []
    async for piece in pieces:
        buffer += piece
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:  # the blank line that ends an event
                if data:
                    yield b"\n".join(data)
                    data = []
            elif line.startswith(b"data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(b" ") else value)
            # other fields (event:, id:, retry:) and comments (": ...") carry nothing a completion needs
    if buffer.rstrip(b"\r").startswith(b"data:"):
        value = buffer.rstrip(b"\r")[5:]
        data.append(value[1:] if value.startswith(b" ") else value)
    if data:
        yield b"\n".join(data)


def _error_message(error: object) -> str:
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) and message else "An error occurred during streaming"


def first_choice(answer: dict[str, Any]) -> dict[str, Any] | None:
    """Choice 0 of a completion or chunk, or None when it has none."""
    choices = answer.get("choices")
    if choices is None:
        return None
    if not isinstance(choices, list):
        raise ValueError("'choices' is not a list")
    for choice in choices:
        if not isinstance(choice, dict):
            raise ValueError("a choice is not an object")
        if choice.get("index", 0) == 0:
            return choice
    return None


def text_of(part: object) -> str:
    """The text of a message or a delta: its content, or its refusal."""
    if part is None:
        return ""
    if not isinstance(part, dict):
        raise ValueError("a message or delta is not an object")
    text = part.get("content") or part.get("refusal") or ""
    if not isinstance(text, str):
        raise ValueError("content is not a string")
    return text


def usage_of(answer: dict[str, Any]) -> tuple[int, int] | None:
    """(prompt_tokens, completion_tokens) of a completion or chunk, or None when it carries no usage."""
    usage = answer.get("usage")
    if not usage:
        return None
    if not isinstance(usage, dict):
        raise ValueError("'usage' is not an object")
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return prompt, completion
