"""A recording relay between the app and a model server: every request is forwarded as it came, every answer is
passed back as it arrives (streams stay streams), and both are kept, so that the end-to-end run can see what the
model produced (its raw answer, the proposals in it) and what the app asked for (the structured-output shape, the
candidate block).
"""

from __future__ import annotations

import http.client
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class Exchange:
    """One request to the model server and its answer: the status and the text the model produced (a plain
    answer's content, or a stream's content deltas joined)."""

    path: str
    body: Any
    status: int = 0
    content: str = ""
    usage: Any = None


class Relay:
    """`with Relay("http://127.0.0.1:PORT") as relay:` serves on `relay.base_url` and keeps `relay.exchanges`."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> Relay:
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                relay._forward(self)

            def do_POST(self) -> None:
                relay._forward(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def since(self, index: int) -> list[Exchange]:
        with self._lock:
            return self.exchanges[index:]

    def count(self) -> int:
        with self._lock:
            return len(self.exchanges)

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        exchange = Exchange(handler.path, json.loads(raw) if raw else None)
        with self._lock:
            self.exchanges.append(exchange)
        upstream = http.client.HTTPConnection(*self.upstream, timeout=600)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
            upstream.request(handler.command, handler.path, body=raw or None, headers=headers)
            answer = upstream.getresponse()
            exchange.status = answer.status
            handler.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in HOP_BY_HOP:
                    handler.send_header(name, value)
            handler.send_header("Connection", "close")  # the body ends when the connection does
            handler.end_headers()
            handler.close_connection = True
            received = b""
            while piece := answer.read1(65536):
                received += piece
                handler.wfile.write(piece)
                handler.wfile.flush()
            _read_answer(exchange, received)
        finally:
            upstream.close()


def _read_answer(exchange: Exchange, received: bytes) -> None:
    text = received.decode("utf-8", errors="replace")
    if exchange.body and exchange.body.get("stream"):  # server-sent events (comments such as ": ping" skipped)
        deltas = []
        for line in text.splitlines():
            data = line[5:].strip() if line.startswith("data:") else ""
            if not data or data == "[DONE]":
                continue
            chunk = json.loads(data)
            exchange.usage = chunk.get("usage") or exchange.usage
            for choice in chunk.get("choices") or ():
                deltas.append((choice.get("delta") or {}).get("content") or "")
        exchange.content = "".join(deltas)
        return
    try:
        answer = json.loads(text)
    except ValueError:
        exchange.content = text
        return
    if isinstance(answer, dict) and answer.get("choices"):
        exchange.content = answer["choices"][0].get("message", {}).get("content") or ""
        exchange.usage = answer.get("usage")
    else:
        exchange.content = text
