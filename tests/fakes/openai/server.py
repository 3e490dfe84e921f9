"""The fake itself: lifecycle, knobs, the script and the responder, and the request log's readers."""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

from tests.fakes.openai.handler import Server
from tests.fakes.openai.items import DEFAULT_MODEL, Fault, Item, Reply, Responder, ToolCallReply, default_responder
from tests.fakes.openai.log import ReceivedRequest
from tests.fakes.openai.wire import REFUSALS, Refuse


class FakeOpenAI:
    """The fake server: script replies, inspect requests, start/stop (or use as a context manager).

    Knobs (plain attributes, change them any time): ``latency`` seconds before answering any API
    request; ``stream_tokens_per_second`` paces streamed chunks (and makes plain answers take as
    long as streaming them would); with ``stream_duration`` as well, replies without explicit
    ``chunks`` are stretched to ``round(rate * duration)`` tokens by cycling their words. An item's
    own ``delay`` adds to ``latency``; its ``chunk_delay``, when set, wins over the rate. ``responder`` answers
    once the script is empty (default: a fixed text); ``reset()`` returns to it.

    Other servers' ways (knobs too): ``refuse`` refuses requests carrying a ``response_format`` before any
    scripted item is used, as real servers do (``"json_schema"``: that type only, as llama-cpp-python's server
    does; ``"response_format"``: any, as a server that does not know the parameter; see ``wire.REFUSALS``);
    ``stream_usage=False`` ignores ``stream_options.include_usage`` (llama-cpp-python's server sends no usage in a
    stream).
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
        responder: Responder | None = None,
        refuse: Refuse | None = None,
        stream_usage: bool = True,
    ) -> None:
        self.host = host
        self.models = list(models)
        self._requested_port = port
        self._initial_knobs = (latency, stream_tokens_per_second, stream_duration, refuse, stream_usage)
        self.latency = latency
        self.stream_tokens_per_second = stream_tokens_per_second
        self.stream_duration = stream_duration
        self.refuse = refuse
        self.stream_usage = stream_usage

        self._lock = threading.Lock()
        self._logged = threading.Condition(self._lock)
        self._script: deque[Item] = deque()
        self._initial_responder: Responder = responder or default_responder
        self._responder = self._initial_responder
        self._requests: list[ReceivedRequest] = []
        self._ids = itertools.count(1)
        # Set on stop() so that handlers sleeping on a delay wake up instead of outliving the server.
        self._stopping = threading.Event()
        # Cleared by hold(): chat completion requests wait (recorded, unanswered) until release().
        self._released = threading.Event()
        self._released.set()
        self._held = 0
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and serve in a background daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError("FakeOpenAI is already started")
        self._stopping.clear()
        self._server = Server((self.host, self._requested_port), self)
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
        """Answer from ``responder(request_body)`` once the script is empty (None: the constructor's)."""
        self._responder = responder or self._initial_responder

    def configure(
        self,
        *,
        latency: float | None = None,
        stream_tokens_per_second: float | None = None,
        stream_duration: float | None = None,
        refuse: Refuse | None = None,
        stream_usage: bool | None = None,
    ) -> None:
        """Set the given knobs (None leaves one unchanged; set the attribute to clear it)."""
        if refuse is not None and refuse not in REFUSALS:
            raise ValueError(f"refuse must be one of {sorted(REFUSALS)}")
        if refuse is not None:
            self.refuse = refuse
        if stream_usage is not None:
            self.stream_usage = stream_usage
        if latency is not None:
            self.latency = latency
        if stream_tokens_per_second is not None:
            self.stream_tokens_per_second = stream_tokens_per_second
        if stream_duration is not None:
            self.stream_duration = stream_duration

    def hold(self) -> None:
        """From now on, hold every chat completion request (recorded in the log, not answered) until `release()`."""
        self._released.clear()

    def release(self) -> None:
        """Answer the held requests, and hold no more."""
        self._released.set()

    @property
    def held(self) -> int:
        """How many requests are being held right now."""
        with self._lock:
            return self._held

    def reset(self) -> None:
        """Clear script and request log; responder and knobs return to the constructor's; release any hold."""
        self.release()
        with self._lock:
            self._script.clear()
            self._requests.clear()
        self._responder = self._initial_responder
        (self.latency, self.stream_tokens_per_second, self.stream_duration, self.refuse, self.stream_usage) = (
            self._initial_knobs
        )

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

    def _wait_while_held(self) -> None:
        if self._released.is_set():
            return
        with self._lock:
            self._held += 1
        try:
            while not (self._released.wait(0.05) or self._stopping.is_set()):
                pass
        finally:
            with self._lock:
                self._held -= 1

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
            "refuse": self.refuse,
            "stream_usage": self.stream_usage,
            "models": self.models,
        }
