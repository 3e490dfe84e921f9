"""The OpenAI-compatible provider (OpenAI, Ollama, vLLM, llama.cpp...): the only module that talks to the model
endpoint (through llm/transport.py: the SDK's low-level request path, the body built once, answers and stream chunks
read with orjson), and the only one that sees `openai` or `httpx2` exceptions. Each failure leaves as exactly one
llm.errors type, raised `from` the SDK's exception when there is one:

- LLMTimeout: no answer, or no next piece of a stream, within LLM_READ_TIMEOUT (LLM_CONNECT_TIMEOUT to connect).
- LLMRateLimited(retry_after): 429 once the retries are spent, or at once when Retry-After exceeds
  LLM_MAX_RETRY_AFTER.
- LLMRejected(status, reason): the server refused the request (llm/refusals.py: a 4xx such as 400 or 422, or a 500
  that is a validation error of the request), with a short reason of ours, never the server's text.
- LLMUnavailable: connection refused or dropped (before or during a stream), any other 5xx, an error event inside a
  stream, 408 and 409, and 401/403/404: a wrong key, base URL or model name is a configuration fault, not a bad
  answer.
- LLMBadResponse: a body or stream chunk that is not JSON, an answer without a finish reason (a stream that ended
  before finishing), or an empty answer. A structured reply that is not valid JSON is not one: the turn goes on with
  the text read and no card from what did not parse (llm/reply_json.py), logged as "reply not valid json".

A reply asks for its structured output in the shape llm/structured.py keeps for the endpoint and model; a refusal of
that shape is asked again at once in the next shape (no wait, no retry spent). Retries cover 429, 500, 502, 503, 504
and connection errors, never a refusal (it would be refused again): at most LLM_MAX_RETRIES, after the server's
Retry-After or an exponential backoff with jitter, never waiting longer than LLM_MAX_RETRY_AFTER. Timeouts are not
retried (the slow request may still be running and another try would double the wait), and a stream is never
retried once a delta was yielded. The SDK's own retries are off.

A server that sends no usage (llama-cpp-python's ignores `stream_options.include_usage`) has it counted here with the
tokenizer; the Completion's usage says which (`source`).
"""

import asyncio
import logging
import math
import random
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import httpx2
import openai

from llm import refusals, structured, transport
from llm.conf import LLMSettings, get_settings
from llm.data import Usage
from llm.errors import LLMBadResponse, LLMError, LLMRateLimited, LLMRejected, LLMTimeout, LLMUnavailable
from llm.providers import PAST_DEADLINE, Completion, ModelRequest, ReplyHead, counted_usage
from llm.reply_json import ReplyReader

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_SECONDS = 0.5  # the first retry's wait without Retry-After; doubles with each further retry
NO_API_KEY = "not-needed"  # servers such as Ollama take no key, but the SDK refuses to start without one

# What the SDK and llm.transport let escape: the SDK's own errors, httpx2 errors it does not wrap, and ValueError for
# a body or stream chunk that is not JSON (orjson's JSONDecodeError is one) or not shaped as a completion.
_SDK_ERRORS = (openai.OpenAIError, httpx2.HTTPError, ValueError)
_jitter = random.SystemRandom()


class OpenAIProvider:
    """Chat completions from the configured endpoint: `complete` (sync) and `astream` (async, streamed)."""

    name = "openai"

    def __init__(self, cfg: LLMSettings | None = None) -> None:
        self._cfg = cfg or get_settings()
        self._endpoint = _Endpoint.of(self._cfg)

    def complete(self, request: ModelRequest) -> Completion:
        """Answer in one piece, retrying as the module describes. Raises only llm.errors types."""
        started = time.monotonic()
        try:
            completion = self._complete(request)
        except LLMError as error:
            self._log_failure(error, request, started)
            raise
        self._log_success(completion, request, started)
        return completion

    async def astream(self, request: ModelRequest) -> AsyncIterator[str | ReplyHead | Completion]:
        """Yield reply text deltas as the model produces them (a reply's ReplyHead with the first), then exactly one
        Completion. Retries only before the first delta. Raises only llm.errors types."""
        started = time.monotonic()
        try:
            async with aclosing(self._stream(request)) as items:
                async for item in items:
                    if isinstance(item, Completion):
                        self._log_success(item, request, started)
                    yield item
        except LLMError as error:
            self._log_failure(error, request, started)
            raise

    def list_models(self) -> tuple[str, ...]:
        """The ids of the models the endpoint lists (GET {base_url}/models). Raises only llm.errors types."""
        try:
            return tuple(model.id for model in _sync_client(self._endpoint).models.list().data)
        except _SDK_ERRORS as exc:
            raise translate_error(exc) from exc

    def _complete(self, request: ModelRequest) -> Completion:
        tries = _Tries(self, request, stream=False)
        while True:
            try:
                answer = transport.complete(_sync_client(self._endpoint), tries.content, timeout=tries.timeout())
                return self._completion(request, tries.body, answer)
            except _SDK_ERRORS as exc:
                delay = tries.after(exc)
            time.sleep(delay)

    async def _stream(self, request: ModelRequest) -> AsyncIterator[str | ReplyHead | Completion]:
        tries = _Tries(self, request, stream=True)
        while True:
            heads: list[dict[str, Any] | None] = []
            reader = ReplyReader(structured=request.purpose == "reply", on_head=heads.append)
            finish_reason: str | None = None
            usage = None
            try:
                async with aclosing(transport.stream(_async_client(self._endpoint), tries.content)) as chunks:
                    async for chunk in chunks:
                        usage = transport.usage_of(chunk) or usage
                        if (choice := transport.first_choice(chunk)) is None:
                            continue
                        if delta := reader.feed(transport.text_of(choice.get("delta"))):
                            if heads:  # with the first text, never before: a stream that fails first is retried
                                yield ReplyHead(heads.pop())
                            yield delta
                        finish_reason = choice.get("finish_reason") or finish_reason
                break
            except _SDK_ERRORS as exc:
                delay = tries.after(exc, again=not reader.emitted)
            await asyncio.sleep(delay)
        if finish_reason is None:
            raise LLMBadResponse("The model's answer ended before it was finished.")
        text, mood = reader.finish(finish_reason)
        _note_malformed(reader, finish_reason)
        _not_empty(request, text)
        if rest := text[len(reader.emitted) :]:
            if heads:  # read only now (a reply that could not be streamed)
                yield ReplyHead(heads.pop())
            yield rest
        yield self._completed(request, reader, text, mood, self._usage(usage, tries.body, text), finish_reason)

    def _completion(self, request: ModelRequest, body: dict[str, Any], answer: dict[str, Any]) -> Completion:
        choice = transport.first_choice(answer)
        if choice is None:
            raise LLMBadResponse("The model's answer has no choices.")
        finish_reason = choice.get("finish_reason")
        if finish_reason is None:
            raise LLMBadResponse("The model's answer ended before it was finished.")
        reader = ReplyReader(structured=request.purpose == "reply")
        reader.feed(transport.text_of(choice.get("message")))
        text, mood = reader.finish(finish_reason)
        _note_malformed(reader, finish_reason)
        _not_empty(request, text)
        usage = self._usage(transport.usage_of(answer), body, text)
        return self._completed(request, reader, text, mood, usage, finish_reason)

    @staticmethod
    def _completed(
        request: ModelRequest, reader: ReplyReader, text: str, mood: str | None, usage: Usage, finish_reason: str
    ) -> Completion:
        if request.purpose != "reply":
            return Completion(text=text, mood=mood, usage=usage, finish_reason=finish_reason)
        return Completion(
            text=text,
            mood=mood,
            usage=usage,
            finish_reason=finish_reason,
            head=reader.head,
            schema_valid=structured.conforms(reader.answer),
        )

    def _usage(self, usage: tuple[int, int] | None, body: dict[str, Any], text: str) -> Usage:
        if usage is not None:
            return Usage(prompt_tokens=usage[0], completion_tokens=usage[1], source="server")
        # Some compatible servers send no usage (not even with stream_options.include_usage): count it the way OpenAI
        # bills, so quotas and session counters still move.
        return counted_usage(body["messages"], text, model=self._cfg.model)

    def _mode(self, request: ModelRequest) -> str | None:
        """The structured-output shape of a reply request (None: plain text is asked for)."""
        if request.purpose != "reply":
            return None
        cfg = self._cfg
        return structured.mode_for(cfg.structured_output, cfg.base_url, cfg.model)

    def _retry_delay(self, exc: Exception, attempt: int, request: ModelRequest) -> float | None:
        """Seconds to wait before another try after `exc`, or None to give up."""
        if attempt >= self._cfg.max_retries or not _retryable(exc):
            return None
        delay = _retry_after(exc)
        if delay is None:
            delay = min(self._cfg.max_retry_after, BACKOFF_SECONDS * 2**attempt) * _jitter.uniform(0.5, 1.0)
        elif delay > self._cfg.max_retry_after:
            return None
        log.warning(
            "llm call retried",
            extra={
                "purpose": request.purpose,
                "retry": attempt + 1,
                "cause": type(exc).__name__,
                "status": getattr(exc, "status_code", None),
                "delay_ms": round(delay * 1000),
            },
        )
        return delay

    def _log_failure(self, error: LLMError, request: ModelRequest, started: float) -> None:
        cause = error.__cause__
        log.warning(
            "llm call failed",
            extra={
                "purpose": request.purpose,
                "model": self._cfg.model,
                "error": error.code,
                "cause": type(cause).__name__ if cause else type(error).__name__,
                "status": getattr(cause, "status_code", None),
                "reason": getattr(error, "reason", None),  # a refusal's: one of llm.refusals' fixed phrases
                "detail": error.detail,  # ours, never the server's text (translate_error, llm/reply_json.py)
                "duration_ms": round((time.monotonic() - started) * 1000),
            },
        )

    def _log_success(self, completion: Completion, request: ModelRequest, started: float) -> None:
        log.info(
            "llm call",
            extra={
                "purpose": request.purpose,
                "model": self._cfg.model,
                "finish_reason": completion.finish_reason,
                "prompt_tokens": completion.usage.prompt_tokens,
                "completion_tokens": completion.usage.completion_tokens,
                "usage_source": completion.usage.source,
                "structured_output": self._mode(request),
                "schema_valid": completion.schema_valid,
                "duration_ms": round((time.monotonic() - started) * 1000),
            },
        )


class _Tries:
    """The tries of one request, sync or streamed alike: its body in the structured-output shape of the moment, and
    what follows a failure (`after`)."""

    def __init__(self, provider: OpenAIProvider, request: ModelRequest, *, stream: bool) -> None:
        self._provider, self._request, self._stream = provider, request, stream
        self._attempt = 0  # retries spent (a new shape spends none)
        self._shape(provider._mode(request))

    def _shape(self, mode: str | None) -> None:
        self.mode = mode
        self.body = request_body(self._provider._cfg, self._request, stream=self._stream, mode=mode)
        self.content = transport.encode(self.body)

    def after(self, exc: Exception, *, again: bool = True) -> float:
        """Seconds to wait before the next try after the failure `exc`: none for the next structured-output shape
        (its shape refused, under auto), a delay for a retryable failure; raises the llm.errors type of `exc` when
        there is no next try (or `again` is false: a stream that already yielded text)."""
        cfg = self._provider._cfg
        refusal = _refusal(exc) if again else None
        if refusal is not None and refusal.shape and self.mode is not None:
            following = structured.fall_back(cfg.structured_output, cfg.base_url, cfg.model, self.mode)
            if following is not None:
                self._shape(following)
                return 0.0
        delay = self._provider._retry_delay(exc, self._attempt, self._request) if again and refusal is None else None
        if delay is None:
            raise translate_error(exc) from exc
        if self._request.deadline is not None and time.monotonic() + delay >= self._request.deadline:
            raise LLMTimeout(PAST_DEADLINE) from exc
        self._attempt += 1
        return delay

    def timeout(self) -> openai.Timeout | None:
        """The next try's timeouts when the request has a deadline: the configured ones, or what is left of it."""
        if self._request.deadline is None:
            return None
        left = self._request.deadline - time.monotonic()
        if left <= 0:
            raise LLMTimeout(PAST_DEADLINE)
        cfg = self._provider._cfg
        return openai.Timeout(min(cfg.read_timeout, left), connect=min(cfg.connect_timeout, left))


def _refusal(exc: Exception) -> refusals.Refusal | None:
    if not isinstance(exc, openai.APIStatusError):
        return None
    return refusals.refusal_of(exc.status_code, exc.body)


def _note_malformed(reader: ReplyReader, finish_reason: str) -> None:
    if reader.malformed:  # the turn goes on with the text read (llm/reply_json.py); counted in the log
        log.warning("reply not valid json", extra={"finish_reason": finish_reason, "text_read": bool(reader.emitted)})


def _not_empty(request: ModelRequest, text: str) -> None:
    # A reply with no text is answered by its grounding (the sentence of its cards); a summary must have some.
    if request.purpose != "reply" and not text.strip():
        raise LLMBadResponse("The model's reply was empty.")


def request_body(cfg: LLMSettings, request: ModelRequest, *, stream: bool, mode: str | None = None) -> dict[str, Any]:
    """The chat completion parameters of `request`: for a reply, structured output in shape `mode`
    (llm/structured.py); plain text otherwise."""
    body: dict[str, Any] = {
        "model": cfg.model,
        "messages": list(request.messages),
        max_tokens_parameter(cfg.base_url): request.max_tokens,
    }
    if mode is not None:
        structured.shape(body, mode)
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def max_tokens_parameter(base_url: str) -> str:
    """`max_completion_tokens` for OpenAI itself, which deprecated `max_tokens` and refuses it for its reasoning
    models; `max_tokens` for any other server: every OpenAI-compatible server (Ollama, vLLM, llama.cpp) accepts it,
    while not all of them know the newer name."""
    host = urlsplit(base_url).hostname if base_url else "api.openai.com"
    return "max_completion_tokens" if host == "api.openai.com" else "max_tokens"


def translate_error(exc: Exception) -> LLMError:
    """The llm.errors type for an exception from the SDK (see the module docstring for the mapping)."""
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        return LLMTimeout(f"no answer within the timeout ({type(exc).__name__})")
    if isinstance(exc, openai.RateLimitError):
        return LLMRateLimited("The model provider is rate limiting us.", retry_after=_retry_after(exc))
    if isinstance(exc, openai.APIStatusError):
        if (refusal := _refusal(exc)) is not None:
            return LLMRejected(status=refusal.status, reason=refusal.reason)
        return LLMUnavailable(f"The model endpoint answered HTTP {exc.status_code}.")
    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
        return LLMUnavailable("The model endpoint could not be reached or dropped the connection.")
    if isinstance(exc, openai.APIResponseValidationError | ValueError):
        return LLMBadResponse("The model endpoint sent a malformed answer.")
    if isinstance(exc, openai.APIError):  # an error event inside a stream
        return LLMUnavailable("The model endpoint reported an error while answering.")
    return LLMUnavailable(f"The model endpoint failed ({type(exc).__name__}).")


def parse_retry_after(value: str, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value, delay-seconds or an HTTP date; None if it is neither."""
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def _retry_after(exc: Exception) -> float | None:
    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    if milliseconds := parse_retry_after(headers.get("retry-after-ms", "")):
        return milliseconds / 1000
    return parse_retry_after(headers.get("retry-after", ""))


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        return False
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRY_STATUSES
    return isinstance(exc, openai.APIConnectionError | httpx2.TransportError)


@dataclass(frozen=True, slots=True)
class _Endpoint:
    """What an SDK client is built from; clients are cached per distinct value."""

    base_url: str
    api_key: str = field(repr=False)
    connect_timeout: float
    read_timeout: float

    @classmethod
    def of(cls, cfg: LLMSettings) -> "_Endpoint":
        return cls(cfg.base_url, cfg.api_key or NO_API_KEY, cfg.connect_timeout, cfg.read_timeout)

    def client_options(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url or None,  # None: the SDK's default, api.openai.com
            "api_key": self.api_key,
            # Never the SDK's 10-minute default: read bounds each wait for the next byte, also between stream chunks.
            "timeout": openai.Timeout(self.read_timeout, connect=self.connect_timeout),
            "max_retries": 0,  # retries are ours, bounded by our settings
        }


# An async client's connections belong to the event loop that opened them: one client per loop, dropped with it.
_async_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[_Endpoint, openai.AsyncOpenAI]]" = (
    weakref.WeakKeyDictionary()
)


@cache
def _sync_client(endpoint: _Endpoint) -> openai.OpenAI:
    return openai.OpenAI(**endpoint.client_options())


def _async_client(endpoint: _Endpoint) -> openai.AsyncOpenAI:
    clients = _async_clients.setdefault(asyncio.get_running_loop(), {})
    client = clients.get(endpoint)
    if client is None:
        client = clients[endpoint] = openai.AsyncOpenAI(**endpoint.client_options())
    return client
