"""What a test scripts: replies (text, JSON, a tool call) and faults, and the JSON specs other processes send."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

DEFAULT_MODEL = "fake-model"
DEFAULT_REPLY_TEXT = "Fake reply."
# Content streamed by the stream faults before they break the stream.
PARTIAL_TEXT = "This reply is interrupted by a scripted fault before it can finish."


@dataclass(frozen=True)
class Reply:
    """A text answer. ``chunks`` overrides how a stream splits ``content``; ``usage`` overrides the
    deterministic token estimate; ``delay`` waits before answering, ``chunk_delay`` between chunks
    (a plain answer waits as long as the whole stream would)."""

    content: str = DEFAULT_REPLY_TEXT
    chunks: Sequence[str] | None = None
    finish_reason: str = "stop"
    usage: Mapping[str, int] | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0


def JSONReply(obj: Any, **kw: Any) -> Reply:
    """A text answer whose content is ``json.dumps(obj)`` (for ``response_format`` requests)."""
    return Reply(content=json.dumps(obj), **kw)


@dataclass(frozen=True)
class ToolCallReply:
    """An answer calling one function: ``message.tool_calls`` and finish_reason "tool_calls".

    Streamed as tool-call deltas: the first carries id and name, the next ones pieces of arguments."""

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    call_id: str = "call_1"
    usage: Mapping[str, int] | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0

    @property
    def arguments_json(self) -> str:
        """The arguments as the JSON string the API sends."""
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


FaultKind = Literal[
    "rate_limited",
    "status",
    "delay",
    "drop",
    "cut_stream",
    "malformed_chunk",
    "error_chunk",
    "no_finish_reason",
]


@dataclass(frozen=True)
class Fault:
    """A scripted failure; build one with the class methods below.

    Stream faults on a non-stream request do the closest thing a plain answer can:
    ``cut_stream`` sends half of a declared body then closes (incomplete body), ``malformed_chunk``
    answers 200 with a body that is not JSON, ``error_chunk`` answers 500 with the error message and
    ``no_finish_reason`` answers a completion whose ``finish_reason`` is null.
    """

    kind: FaultKind
    status_code: int = 500
    message: str = ""
    retry_after: float | None = None
    seconds: float = 0.0
    after_chunks: int = 0
    content: str = PARTIAL_TEXT

    @classmethod
    def rate_limited(cls, retry_after: float = 1, message: str = "Rate limit reached (fake).") -> Fault:
        """429 with a ``Retry-After`` header and an OpenAI-shaped error body."""
        return cls("rate_limited", status_code=429, message=message, retry_after=retry_after)

    @classmethod
    def status(cls, code: int, message: str = "Scripted error (fake).") -> Fault:
        """Any error status (400, 500, 502, 503...) with an OpenAI-shaped error body."""
        return cls("status", status_code=code, message=message)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait ``seconds``, then answer what the responder answers (lets a client timeout fire)."""
        return cls("delay", seconds=seconds)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without sending any response."""
        return cls("drop")

    @classmethod
    def cut_stream(cls, after_chunks: int = 2, content: str = PARTIAL_TEXT) -> Fault:
        """Send ``after_chunks`` content chunks, then close: no finish chunk, no [DONE]."""
        return cls("cut_stream", after_chunks=after_chunks, content=content)

    @classmethod
    def malformed_chunk(cls, after_chunks: int = 1, content: str = PARTIAL_TEXT) -> Fault:
        """Send ``after_chunks`` content chunks, then ``data: {not json``, then close."""
        return cls("malformed_chunk", after_chunks=after_chunks, content=content)

    @classmethod
    def error_chunk(
        cls,
        message: str = "The server had an error (fake).",
        after_chunks: int = 1,
        content: str = PARTIAL_TEXT,
    ) -> Fault:
        """Send ``after_chunks`` content chunks, then an ``{"error": ...}`` event, then [DONE]."""
        return cls("error_chunk", message=message, after_chunks=after_chunks, content=content)

    @classmethod
    def no_finish_reason(cls, content: str = DEFAULT_REPLY_TEXT) -> Fault:
        """Stream all of ``content``, then [DONE], with no chunk ever carrying a finish_reason."""
        return cls("no_finish_reason", content=content)


Item = Reply | ToolCallReply | Fault
Responder = Callable[[dict[str, Any]], Item]

_FAULT_FACTORIES: dict[str, Callable[..., Fault]] = {
    "rate_limited": Fault.rate_limited,
    "status": Fault.status,
    "delay": Fault.delay,
    "drop": Fault.drop,
    "cut_stream": Fault.cut_stream,
    "malformed_chunk": Fault.malformed_chunk,
    "error_chunk": Fault.error_chunk,
    "no_finish_reason": Fault.no_finish_reason,
}


def item_from_spec(spec: Mapping[str, Any]) -> Item:
    """Build an item from its JSON spec, as sent to ``POST /_fake/script``.

    Specs: ``{"type": "reply", "content": ..., "chunks": [...], "finish_reason": ..., "usage": {...},
    "delay": s, "chunk_delay": s}``, ``{"type": "json", "obj": ..., <reply keys>}``,
    ``{"type": "tool_call", "name": ..., "arguments": {...} | "...", "call_id": ...}`` and
    ``{"type": "fault", "kind": <Fault class method name>, <its keyword arguments>}``.
    Raises ValueError for anything else.
    """
    params = dict(spec)
    kind = params.pop("type", None)
    try:
        if kind == "reply":
            return Reply(**params)
        if kind == "json":
            return JSONReply(params.pop("obj"), **params)
        if kind == "tool_call":
            return ToolCallReply(**params)
        if kind == "fault":
            fault_kind = params.pop("kind", None)
            if fault_kind not in _FAULT_FACTORIES:
                raise ValueError(f"unknown fault kind {fault_kind!r}; known: {sorted(_FAULT_FACTORIES)}")
            return _FAULT_FACTORIES[fault_kind](**params)
    except (TypeError, KeyError) as exc:
        raise ValueError(f"invalid {kind} spec {dict(spec)!r}: {exc}") from exc
    raise ValueError(f"unknown item type {kind!r}; expected reply, json, tool_call or fault")


def default_responder(body: dict[str, Any]) -> Item:
    return Reply()
