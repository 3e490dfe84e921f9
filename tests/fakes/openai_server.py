"""An OpenAI-compatible fake HTTP server for tests and benchmarks (standard library only).

It answers ``POST /v1/chat/completions`` (plain and ``"stream": true``) and ``GET /v1/models``.
Replies are scripted per test, first in first out (``script``); when the script is empty a
responder builds the reply from the request (``set_responder``), by default a fixed text.
Scripted faults reproduce what a real provider or network does to a client: error statuses,
slow answers, dropped connections and broken streams.

Other processes drive it through a JSON control API on the same port (``/_fake/...``) or run it
standalone::

    python -m tests.fakes.openai_server --port 0 --stream-tokens-per-second 20 --stream-duration 10

which prints ``PORT=<n>`` once it listens and serves until SIGTERM or SIGINT.

Transport: HTTP/1.1 with keep-alive. Plain answers carry a Content-Length; streams use chunked
transfer encoding written by hand, so a stream cut short (``Fault.cut_stream``) is an incomplete
chunked body that the client detects, exactly as with a real server.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import re
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, Literal, Self
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_REPLY_TEXT",
    "FakeOpenAI",
    "Fault",
    "Item",
    "JSONReply",
    "ReceivedRequest",
    "Reply",
    "Responder",
    "ToolCallReply",
    "item_from_spec",
    "main",
]

DEFAULT_MODEL = "fake-model"
DEFAULT_REPLY_TEXT = "Fake reply."
# Content streamed by the stream faults before they break the stream.
PARTIAL_TEXT = "This reply is interrupted by a scripted fault before it can finish."
MALFORMED_EVENT = b"data: {not json\n\n"

# ---------------------------------------------------------------------------------------------
# Scripted items
# ---------------------------------------------------------------------------------------------


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


def _default_responder(body: dict[str, Any]) -> Item:
    return Reply()


# ---------------------------------------------------------------------------------------------
# Request log
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedRequest:
    """One request to an API path, as received (control API requests are not logged)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any  # the decoded JSON body (normally a dict), or None when there was none
    received_at: float  # time.time()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# Token arithmetic shared by plain and streamed answers
# ---------------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"\s*\S+")


def _split_tokens(text: str) -> list[str]:
    """Split into word-sized pieces that keep their leading whitespace, so they join back exactly."""
    pieces = _TOKEN_RE.findall(text)
    if not pieces:
        return [text] if text else []
    tail = text[sum(map(len, pieces)) :]
    if tail:  # trailing whitespace
        pieces[-1] += tail
    return pieces


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _prompt_tokens(body: Mapping[str, Any]) -> int:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return 3
    return sum(len(_message_text(m.get("content"))) // 4 + 4 for m in messages if isinstance(m, dict)) + 3


def _usage(body: Mapping[str, Any], completion_text: str, override: Mapping[str, int] | None) -> dict[str, int]:
    usage = {"prompt_tokens": _prompt_tokens(body), "completion_tokens": max(1, len(completion_text) // 4)}
    usage.update(override or {})
    if "total_tokens" not in (override or {}):
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return usage


def _error_body(status: int, message: str) -> dict[str, Any]:
    if status == 429:
        error_type, code = "requests", "rate_limit_exceeded"
    elif status >= 500:
        error_type, code = "server_error", None
    else:
        error_type, code = "invalid_request_error", None
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


# ---------------------------------------------------------------------------------------------
# The fake
# ---------------------------------------------------------------------------------------------


class FakeOpenAI:
    """The fake server: script replies, inspect requests, start/stop (or use as a context manager).

    Knobs (plain attributes, change them any time): ``latency`` seconds before answering any API
    request; ``stream_tokens_per_second`` paces streamed chunks (and makes plain answers take as
    long as streaming them would); with ``stream_duration`` as well, replies without explicit
    ``chunks`` are stretched to ``round(rate * duration)`` tokens by cycling their words. An item's
    own ``delay`` adds to ``latency``; its ``chunk_delay``, when set, wins over the rate.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        models: Sequence[str] = (DEFAULT_MODEL,),
        latency: float = 0.0,
        stream_tokens_per_second: float | None = None,
        stream_duration: float | None = None,
    ) -> None:
        self.host = host
        self.models = list(models)
        self._requested_port = port
        self._initial_knobs = (latency, stream_tokens_per_second, stream_duration)
        self.latency = latency
        self.stream_tokens_per_second = stream_tokens_per_second
        self.stream_duration = stream_duration

        self._lock = threading.Lock()
        self._logged = threading.Condition(self._lock)
        self._script: deque[Item] = deque()
        self._responder: Responder = _default_responder
        self._requests: list[ReceivedRequest] = []
        self._ids = itertools.count(1)
        # Set on stop() so that handlers sleeping on a delay wake up instead of outliving the server.
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and serve in a background daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError("FakeOpenAI is already started")
        self._stopping.clear()
        self._server = _Server((self.host, self._requested_port), self)
        # A short poll interval keeps stop() fast (shutdown() waits for the next poll).
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-openai:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The server root, e.g. ``http://127.0.0.1:PORT`` (the control API lives under it)."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, e.g. ``http://127.0.0.1:PORT/v1``."""
        return f"{self.url}/v1"

    # -- scripting ---------------------------------------------------------------------------

    def script(self, *items: Item) -> None:
        """Queue items; each chat completion request consumes the oldest one."""
        for item in items:
            if not isinstance(item, Reply | ToolCallReply | Fault):
                raise TypeError(f"not a scripted item: {item!r}")
        with self._lock:
            self._script.extend(items)

    def script_n(self, n: int, item: Item) -> None:
        """Queue the same item ``n`` times."""
        self.script(*([item] * n))

    @property
    def pending(self) -> int:
        """How many scripted items are still queued."""
        with self._lock:
            return len(self._script)

    def set_responder(self, responder: Responder | None) -> None:
        """Answer from ``responder(request_body)`` once the script is empty (None: the default)."""
        self._responder = responder or _default_responder

    def configure(
        self,
        *,
        latency: float | None = None,
        stream_tokens_per_second: float | None = None,
        stream_duration: float | None = None,
    ) -> None:
        """Set the given knobs (None leaves one unchanged; set the attribute to clear it)."""
        if latency is not None:
            self.latency = latency
        if stream_tokens_per_second is not None:
            self.stream_tokens_per_second = stream_tokens_per_second
        if stream_duration is not None:
            self.stream_duration = stream_duration

    def reset(self) -> None:
        """Clear script, responder and request log; knobs return to the constructor's values."""
        with self._lock:
            self._script.clear()
            self._requests.clear()
        self._responder = _default_responder
        self.latency, self.stream_tokens_per_second, self.stream_duration = self._initial_knobs

    # -- request log -------------------------------------------------------------------------

    @property
    def requests(self) -> list[ReceivedRequest]:
        """A snapshot of the API requests received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[ReceivedRequest]:
        """Block until at least ``n`` requests arrived and return them; TimeoutError otherwise."""
        with self._logged:
            if not self._logged.wait_for(lambda: len(self._requests) >= n, timeout=timeout):
                raise TimeoutError(f"expected {n} requests within {timeout}s, got {len(self._requests)}")
            return list(self._requests)

    # -- used by the request handler ---------------------------------------------------------

    def _record(self, request: ReceivedRequest) -> None:
        with self._logged:
            self._requests.append(request)
            self._logged.notify_all()

    def _next_item(self, body: dict[str, Any]) -> Item:
        with self._lock:
            if self._script:
                return self._script.popleft()
        return self._responder(body)

    def _fallback_item(self, body: dict[str, Any]) -> Item:
        """What a request answers after ``Fault.delay``: the responder, but never another delay."""
        item = self._responder(body)
        return Reply() if isinstance(item, Fault) and item.kind == "delay" else item

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _completion_id(self) -> str:
        return f"chatcmpl-fake-{next(self._ids)}"

    def _config(self) -> dict[str, Any]:
        return {
            "latency": self.latency,
            "stream_tokens_per_second": self.stream_tokens_per_second,
            "stream_duration": self.stream_duration,
            "models": self.models,
        }


# ---------------------------------------------------------------------------------------------
# HTTP plumbing
# ---------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # benchmarks open hundreds of connections at once
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeOpenAI) -> None:
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket, *, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        """Unblock handler threads waiting on idle keep-alive connections."""
        with self._connections_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):  # already closed by the peer
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away (timeout, drop, cancelled stream) is routine here, not an error.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


Ending = Literal["done", "cut", "malformed", "error"]
_FAULT_ENDINGS: dict[str, Ending] = {
    "cut_stream": "cut",
    "malformed_chunk": "malformed",
    "error_chunk": "error",
}


@dataclass
class _StreamPlan:
    """What one streamed answer sends: a first delta, then content deltas, then how it ends."""

    first_delta: dict[str, Any]
    deltas: list[dict[str, Any]]
    text: str  # everything the deltas carry, for the usage estimate
    finish_reason: str | None
    usage: Mapping[str, int] | None
    interval: float
    ending: Ending = "done"
    error_message: str = ""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API
    disable_nagle_algorithm = True  # small SSE writes must not wait for delayed ACKs
    server: _Server

    # -- BaseHTTPRequestHandler hooks --------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        """Silence access logs: they would drown test and benchmark output."""

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, open_=True)

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:  # ConnectionError, BrokenPipeError, timeouts: the client went away
            self.close_connection = True

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass  # flushing to a client that went away
        finally:
            self.server.track(self.connection, open_=False)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # -- routing -----------------------------------------------------------------------------

    @property
    def fake(self) -> FakeOpenAI:
        return self.server.fake

    def _dispatch(self) -> None:
        path = urlsplit(self.path).path.rstrip("/") or "/"
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._send_error(400, "The request body is not valid JSON.")
            return
        if path.startswith("/_fake/"):
            self._control(path, body)
            return

        self.fake._record(
            ReceivedRequest(
                method=self.command,
                path=path,
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
                received_at=time.time(),
            )
        )
        self.fake._pause(self.fake.latency)
        if self.command == "POST" and path == "/v1/chat/completions":
            self._chat_completion(body)
        elif self.command == "GET" and path == "/v1/models":
            self._send_json(200, {"object": "list", "data": [self._model(m) for m in self.fake.models]})
        elif self.command == "GET" and path.startswith("/v1/models/"):
            model = path.removeprefix("/v1/models/")
            if model in self.fake.models:
                self._send_json(200, self._model(model))
            else:
                self._send_error(404, f"The model '{model}' does not exist.")
        else:
            self._send_error(404, f"Unknown request URL: {self.command} {path}.")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    @staticmethod
    def _model(name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": 0, "owned_by": "fake-openai"}

    # -- control API -------------------------------------------------------------------------

    def _control(self, path: str, body: Any) -> None:
        fake = self.fake
        if self.command == "POST" and path == "/_fake/script":
            specs = body if isinstance(body, list) else [body]
            try:
                items: list[Item] = []
                for spec in specs:
                    if not isinstance(spec, dict):
                        raise ValueError(f"an item spec must be an object, got {spec!r}")
                    spec = dict(spec)
                    repeat = int(spec.pop("repeat", 1))
                    items.extend([item_from_spec(spec)] * repeat)
            except ValueError as exc:
                self._send_error(400, str(exc))
                return
            fake.script(*items)
            self._send_json(200, {"queued": len(items), "pending": fake.pending})
        elif self.command == "GET" and path == "/_fake/requests":
            self._send_json(200, [r.to_dict() for r in fake.requests])
        elif self.command == "POST" and path == "/_fake/reset":
            fake.reset()
            self._send_json(200, fake._config())
        elif path == "/_fake/config" and self.command in ("GET", "POST"):
            if self.command == "POST":
                known = ("latency", "stream_tokens_per_second", "stream_duration")
                if not isinstance(body, dict) or set(body) - set(known):
                    self._send_error(400, f"config must be an object with keys among {known}")
                    return
                # Every key present is set; null clears a knob (latency null means no latency).
                if "latency" in body:
                    fake.latency = float(body["latency"] or 0.0)
                for key in ("stream_tokens_per_second", "stream_duration"):
                    if key in body:
                        setattr(fake, key, None if body[key] is None else float(body[key]))
            self._send_json(200, fake._config())
        else:
            self._send_error(404, f"Unknown control URL: {self.command} {path}.")

    # -- chat completions --------------------------------------------------------------------

    def _chat_completion(self, body: Any) -> None:
        fake = self.fake
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self._send_error(400, "'messages' is a required property.")
            return
        item = fake._next_item(body)
        if isinstance(item, Fault) and item.kind == "delay":
            fake._pause(item.seconds)
            item = fake._fallback_item(body)
        if not isinstance(item, Fault):
            fake._pause(item.delay)

        stream = bool(body.get("stream"))
        if isinstance(item, Fault):
            self._fault(body, item, stream=stream)
        elif stream:
            self._stream(body, self._plan(item))
        else:
            self._send_completion(body, item)

    def _pacing(self) -> tuple[float | None, float | None]:
        rate = self.fake.stream_tokens_per_second
        return (rate if rate and rate > 0 else None), self.fake.stream_duration

    def _reply_chunks(self, reply: Reply) -> list[str]:
        if reply.chunks is not None:
            return list(reply.chunks)
        rate, duration = self._pacing()
        if rate and duration:  # a benchmark stream: stretch the words to fill the duration
            words = reply.content.split() or ["token"]
            n = max(1, round(rate * duration))
            return [("" if i == 0 else " ") + words[i % len(words)] for i in range(n)]
        return _split_tokens(reply.content)

    def _interval(self, item_chunk_delay: float, n_chunks: int) -> float:
        if item_chunk_delay > 0:
            return item_chunk_delay
        rate, duration = self._pacing()
        if rate:
            return 1.0 / rate
        if duration and n_chunks:
            return duration / n_chunks
        return 0.0

    @staticmethod
    def _argument_pieces(arguments: str) -> list[str]:
        size = max(1, -(-len(arguments) // 4))  # about four pieces, as a real stream would send
        return [arguments[i : i + size] for i in range(0, len(arguments), size)] or [""]

    def _plan(self, item: Reply | ToolCallReply) -> _StreamPlan:
        if isinstance(item, ToolCallReply):
            pieces = self._argument_pieces(item.arguments_json)
            first = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": item.call_id,
                        "type": "function",
                        "function": {"name": item.name, "arguments": ""},
                    }
                ],
            }
            deltas = [{"tool_calls": [{"index": 0, "function": {"arguments": p}}]} for p in pieces]
            return _StreamPlan(
                first,
                deltas,
                text=item.arguments_json,
                finish_reason="tool_calls",
                usage=item.usage,
                interval=self._interval(item.chunk_delay, len(deltas)),
            )
        chunks = self._reply_chunks(item)
        return _StreamPlan(
            {"role": "assistant", "content": ""},
            [{"content": c} for c in chunks],
            text="".join(chunks),
            finish_reason=item.finish_reason,
            usage=item.usage,
            interval=self._interval(item.chunk_delay, len(chunks)),
        )

    def _send_completion(self, body: dict[str, Any], item: Reply | ToolCallReply) -> None:
        message: dict[str, Any]
        if isinstance(item, ToolCallReply):
            text = item.arguments_json
            message = {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "tool_calls": [
                    {
                        "id": item.call_id,
                        "type": "function",
                        "function": {"name": item.name, "arguments": text},
                    }
                ],
            }
            finish_reason: str | None = "tool_calls"
            n_chunks = len(self._argument_pieces(text))
        else:
            chunks = self._reply_chunks(item)
            text = "".join(chunks) if item.chunks is None else item.content
            message = {"role": "assistant", "content": text, "refusal": None}
            finish_reason = item.finish_reason
            n_chunks = len(chunks)
        # A plain answer takes as long as streaming it would, so benchmarks see realistic latency.
        self.fake._pause(self._interval(item.chunk_delay, n_chunks) * n_chunks)
        self._send_json(200, self._completion(body, message, finish_reason, _usage(body, text, item.usage)))

    def _completion(
        self, body: dict[str, Any], message: dict[str, Any], finish_reason: str | None, usage: dict[str, int]
    ) -> dict[str, Any]:
        return {
            "id": self.fake._completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.fake.models[0],
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
            "usage": usage,
        }

    # -- faults ------------------------------------------------------------------------------

    def _fault(self, body: dict[str, Any], fault: Fault, *, stream: bool) -> None:
        if fault.kind == "rate_limited":
            retry_after = _format_seconds(fault.retry_after if fault.retry_after is not None else 1)
            self._send_error(429, fault.message, headers={"Retry-After": retry_after})
        elif fault.kind == "status":
            self._send_error(fault.status_code, fault.message)
        elif fault.kind == "drop":
            self.close_connection = True  # the connection closes with nothing written
        elif stream:
            self._stream_fault(body, fault)
        else:
            self._plain_fault(body, fault)

    def _fault_chunks(self, fault: Fault) -> list[str]:
        tokens = _split_tokens(fault.content) or ["token"]
        if fault.kind == "no_finish_reason":
            return tokens
        return [tokens[i % len(tokens)] for i in range(fault.after_chunks)]

    def _stream_fault(self, body: dict[str, Any], fault: Fault) -> None:
        chunks = self._fault_chunks(fault)
        plan = _StreamPlan(
            {"role": "assistant", "content": ""},
            [{"content": c} for c in chunks],
            text="".join(chunks),
            finish_reason=None,
            usage=None,
            interval=self._interval(0.0, len(chunks)),
            ending=_FAULT_ENDINGS.get(fault.kind, "done"),
            error_message=fault.message,
        )
        self._stream(body, plan)

    def _plain_fault(self, body: dict[str, Any], fault: Fault) -> None:
        if fault.kind == "cut_stream":
            message = {"role": "assistant", "content": fault.content, "refusal": None}
            payload = json.dumps(self._completion(body, message, "stop", _usage(body, fault.content, None)))
            data = payload.encode()
            self._send_head(200, "application/json", {"Content-Length": str(len(data))})
            self._write(data[: len(data) // 2])
            self.close_connection = True
        elif fault.kind == "malformed_chunk":
            data = b"{not json"
            self._send_head(200, "application/json", {"Content-Length": str(len(data))})
            self._write(data)
        elif fault.kind == "error_chunk":
            self._send_error(500, fault.message)
        else:  # no_finish_reason
            message = {"role": "assistant", "content": fault.content, "refusal": None}
            self._send_json(200, self._completion(body, message, None, _usage(body, fault.content, None)))

    # -- streaming ---------------------------------------------------------------------------

    def _stream(self, body: dict[str, Any], plan: _StreamPlan) -> None:
        completion_id = self.fake._completion_id()
        created = int(time.time())
        model = body.get("model") or self.fake.models[0]
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))

        def chunk(delta: dict[str, Any] | None, finish_reason: str | None = None) -> dict[str, Any]:
            obj: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": []
                if delta is None
                else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            }
            if include_usage:
                obj["usage"] = None
            return obj

        self._send_head(
            200,
            "text/event-stream; charset=utf-8",
            {"Transfer-Encoding": "chunked", "Cache-Control": "no-cache"},
        )
        self._send_event(chunk(plan.first_delta))
        # Pace against a schedule, not sleep after sleep, so write time does not slow the rate down.
        started = time.monotonic()
        for i, delta in enumerate(plan.deltas, start=1):
            self.fake._pause(started + i * plan.interval - time.monotonic())
            self._send_event(chunk(delta))

        if plan.ending == "cut":
            self.close_connection = True  # no terminating chunk: the client sees an incomplete body
            return
        if plan.ending == "malformed":
            self._write_chunk(MALFORMED_EVENT)
            self.close_connection = True
            return
        if plan.ending == "error":
            self._send_event({"error": {"message": plan.error_message, "type": "server_error"}})
        if plan.finish_reason is not None:
            self._send_event(chunk({}, plan.finish_reason))
            if include_usage:
                final = chunk(None)
                final["usage"] = _usage(body, plan.text, plan.usage)
                self._send_event(final)
        # [DONE] and the terminating zero-size chunk go out together: the body is complete.
        self._write(self._chunk_bytes(b"data: [DONE]\n\n") + b"0\r\n\r\n")

    @staticmethod
    def _chunk_bytes(data: bytes) -> bytes:
        return b"%x\r\n%s\r\n" % (len(data), data)

    def _write_chunk(self, data: bytes) -> None:
        self._write(self._chunk_bytes(data))

    def _send_event(self, obj: dict[str, Any]) -> None:
        self._write_chunk(b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n")

    # -- low-level writes --------------------------------------------------------------------

    def _send_head(self, status: int, content_type: str, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("x-request-id", f"req_fake_{time.monotonic_ns()}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()

    def _write(self, data: bytes) -> None:
        # wfile is unbuffered (one sendall per call); flush anyway in case that ever changes.
        self.wfile.write(data)
        self.wfile.flush()

    def _send_json(self, status: int, obj: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self._send_head(status, "application/json", {**(headers or {}), "Content-Length": str(len(data))})
        self._write(data)

    def _send_error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        self._send_json(status, _error_body(status, message), headers)


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------


def main(argv: Iterable[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT, after printing ``PORT=<n>`` on a line of its own."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.openai_server", description="An OpenAI-compatible fake server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before answering any request")
    parser.add_argument("--stream-tokens-per-second", type=float, default=None)
    parser.add_argument("--stream-duration", type=float, default=None, help="seconds a streamed reply lasts")
    parser.add_argument("--model", action="append", dest="models", help="model name for GET /v1/models (repeatable)")
    args = parser.parse_args(None if argv is None else list(argv))

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    fake = FakeOpenAI(
        args.host,
        args.port,
        models=args.models or (DEFAULT_MODEL,),
        latency=args.latency,
        stream_tokens_per_second=args.stream_tokens_per_second,
        stream_duration=args.stream_duration,
    )
    with fake:
        print(f"PORT={fake.port}", flush=True)
        while not stop.wait(0.5):  # a timed wait keeps the main thread responsive to signals
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
