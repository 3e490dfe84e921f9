"""HTTP plumbing: the threading server and the request handler (routing, the control API under /_fake/, chat
completions, plain answers and the low-level writes). Streams and faults are mixins of their own modules."""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tests.fakes.openai.faults import FaultsMixin
from tests.fakes.openai.items import Fault, Item, Reply, ToolCallReply, item_from_spec
from tests.fakes.openai.log import ReceivedRequest
from tests.fakes.openai.streaming import StreamingMixin
from tests.fakes.openai.wire import REFUSALS, error_body, refusal, usage

if TYPE_CHECKING:
    from tests.fakes.openai.server import FakeOpenAI


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # benchmarks open hundreds of connections at once
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeOpenAI) -> None:
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, Handler)

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


class Handler(StreamingMixin, FaultsMixin, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API
    disable_nagle_algorithm = True  # small SSE writes must not wait for delayed ACKs
    server: Server

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
            self.fake._wait_while_held()
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
                known = ("latency", "stream_tokens_per_second", "stream_duration", "refuse", "stream_usage")
                if not isinstance(body, dict) or set(body) - set(known):
                    self._send_error(400, f"config must be an object with keys among {known}")
                    return
                if body.get("refuse") not in (None, *REFUSALS):
                    self._send_error(400, f"refuse must be null or one of {sorted(REFUSALS)}")
                    return
                if "refuse" in body:
                    fake.refuse = body["refuse"]
                if "stream_usage" in body:
                    fake.stream_usage = bool(body["stream_usage"])
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
        refused = refusal(fake.refuse, body)
        if refused is not None:  # before the script: a real server refuses before it generates anything
            self._send_json(*refused)
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
        self._send_json(200, self._completion(body, message, finish_reason, usage(body, text, item.usage)))

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
        self._send_json(status, error_body(status, message), headers)
