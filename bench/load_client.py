"""The load generator of bench.http_load, a process of its own: raw HTTP/1.1 over asyncio streams on uvloop, one
keep-alive connection per client, loopback only. It reads a segment's spec as JSON on stdin and writes its result
(and its own CPU time) as JSON on stdout: `python -m bench.load_client`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import common

ROTATE_EVERY = 40  # turns per session: 80 short messages stay well inside the window, so no fold is due
REQUESTS_PER_CONNECTION = 20
STREAM_SECONDS = 10.0
STREAM_RAMP_SECONDS = 2.0
REQUEST_TIMEOUT = 30.0
# What the customers ask, in turn: requests the demo catalog has candidates for, for each of the cast (checked with
# customers.services.catalog_turn_read), so that every turn is a recommending one.
TURN_TEXTS = (
    "Any dinner ideas near the station tonight?",
    "매운 저녁 추천해 주세요",
    "Something fun to do this weekend?",
    "주말에 할 만한 활동 추천해 주세요",
)
_NETWORK_ERRORS = (TimeoutError, OSError, asyncio.IncompleteReadError)


class HttpConnection:
    """One keep-alive HTTP/1.1 connection, reopened after any failure."""

    def __init__(self, host: str, port: int, token: str | None = None) -> None:
        self.host, self.port = host, port
        self._head = f"Host: {host}:{port}\r\n" + (f"Authorization: Token {token}\r\n" if token else "")
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def request(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        accept: str | None = None,
        on_chunk: Callable[[bytes], None] | None = None,
    ) -> tuple[int, bytes]:
        """Send one request and read its whole response; `on_chunk` sees a chunked body as it arrives."""
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        payload = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        head = f"{method} {path} HTTP/1.1\r\n{self._head}"
        if accept:
            head += f"Accept: {accept}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        head += f"Content-Length: {len(payload)}\r\n\r\n"
        self._writer.write(head.encode() + payload)
        try:
            status, headers = await self._read_head()
            data = await self._read_body(headers, on_chunk)
        except BaseException:
            self.close()
            raise
        if headers.get(b"connection", b"").lower() == b"close":
            self.close()
        return status, data

    async def _read_head(self) -> tuple[int, dict[bytes, bytes]]:
        assert self._reader is not None
        lines = (await self._reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
        return int(lines[0].split()[1]), headers

    async def _read_body(self, headers: dict[bytes, bytes], on_chunk: Callable[[bytes], None] | None) -> bytes:
        reader = self._reader
        assert reader is not None
        if b"content-length" in headers:
            return await reader.readexactly(int(headers[b"content-length"]))
        if headers.get(b"transfer-encoding", b"").lower() != b"chunked":
            data = await reader.read()
            self.close()
            return data
        parts = []
        while size := int((await reader.readline()).split(b";")[0], 16):
            chunk = (await reader.readexactly(size + 2))[:-2]
            if on_chunk is not None:
                on_chunk(chunk)
            parts.append(chunk)
        await reader.readline()  # the empty line after the last chunk
        return b"".join(parts)


@dataclass
class StreamProbe:
    """What one SSE stream showed its client: when it started, its first delta arrived, and how it ended."""

    tag: str
    sent: float = 0.0  # wall clock (time.time): comparable with the fake server's log
    first_delta: float | None = None
    ended: float | None = None
    status: int = 0
    deltas: int = 0
    cards: int = 0  # the recommendations of the turn its `done` event holds
    outcome: str = "incomplete"  # done | error:<code> | incomplete | http_<status> | <exception name>
    _buffer: bytes = field(default=b"", repr=False)

    def feed_app(self, chunk: bytes) -> None:
        """Events of the app's stream: `delta`s, then `done` or `error`."""
        for block in self._blocks(chunk):
            if block.startswith(b"event: delta"):
                self._delta()
            elif block.startswith(b"event: done"):
                self.outcome = "done"
                self.cards = cards_of(block.split(b"data: ", 1)[1])
            elif block.startswith(b"event: error"):
                self.outcome = f"error:{json.loads(block.split(b'data: ', 1)[1]).get('code')}"

    def feed_model(self, chunk: bytes) -> None:
        """Events of the model's own stream: the first chunk carrying content is its first token."""
        for block in self._blocks(chunk):
            if block == b"data: [DONE]":
                self.outcome = "done"
            elif block.startswith(b"data: ") and b'"content":"' in block and b'"content":""' not in block:
                self._delta()

    def _blocks(self, chunk: bytes) -> list[bytes]:
        *blocks, self._buffer = (self._buffer + chunk).split(b"\n\n")
        return blocks

    def _delta(self) -> None:
        self.deltas += 1
        if self.first_delta is None:
            self.first_delta = time.time()


def cards_of(turn: bytes) -> int:
    """How many cards a turn (the JSON of a 201 answer or of a `done` event) carries."""
    return len(json.loads(turn).get("recommendations") or ())


async def _open_session(conn: HttpConnection, *, prime: bool = True) -> str:
    """A new session's messages path; `prime` reads its messages once, which caches its access entry."""
    status, body = await asyncio.wait_for(conn.request("POST", "/api/v1/sessions", {"title": "bench"}), 30)
    if status != 201:
        raise RuntimeError(f"opening a session answered {status}")
    path = f"/api/v1/sessions/{json.loads(body)['id']}/messages"
    if prime:
        status, _ = await asyncio.wait_for(conn.request("GET", path), 30)
        if status != 200:
            raise RuntimeError(f"reading a new session answered {status}")
    return path


async def _requests_client(spec: dict[str, Any], index: int, deadline: float, out: list[tuple]) -> None:
    """Closed loop until `deadline`: each request as (started, ended, error kind or None, cards of a turn)."""
    conn = HttpConnection(spec["host"], spec["port"], spec["tokens"][index % len(spec["tokens"])])
    turns = spec["mode"] == "turns"
    path, done = "/api/v1/me", 0
    # Clients start spread over half the warm-up and reconnect now and then, as a population of users would: a burst
    # of connections opened at once lands on whichever worker wakes first and stays there.
    await asyncio.sleep(index * spec["warmup"] / 2 / spec["clients"])
    reconnect_every = 1 if spec.get("fresh_connections") else REQUESTS_PER_CONNECTION
    try:
        while time.perf_counter() < deadline:
            if turns and done % ROTATE_EVERY == 0:
                try:
                    path = await _open_session(conn)
                except (*_NETWORK_ERRORS, RuntimeError) as error:
                    now = time.perf_counter()
                    out.append((now, now, f"open_session:{type(error).__name__}", 0))
                    await asyncio.sleep(0.1)
                    continue
            body = {"content": f"{TURN_TEXTS[done % len(TURN_TEXTS)]} ({index}.{done})"} if turns else None
            started, error, cards = time.perf_counter(), None, 0
            try:
                status, data = await asyncio.wait_for(
                    conn.request("POST" if turns else "GET", path, body), REQUEST_TIMEOUT
                )
                if status != (201 if turns else 200):
                    error = f"http_{status}"
                elif turns:
                    cards = cards_of(data)
            except _NETWORK_ERRORS as exc:
                error = type(exc).__name__
            out.append((started, time.perf_counter(), error, cards))
            done += 1
            if done % reconnect_every == 0:
                conn.close()
    finally:
        conn.close()


async def run_requests(spec: dict[str, Any]) -> dict[str, Any]:
    """Closed-loop clients for a warm-up, then a measured window. Throughput counts the requests that ended in the
    window; latency and errors those that started in it (a slow request that ends after the window still counts)."""
    now = time.perf_counter()
    measure_from, deadline = now + spec["warmup"], now + spec["warmup"] + spec["duration"]
    out: list[tuple] = []
    await asyncio.gather(*(_requests_client(spec, i, deadline, out) for i in range(spec["clients"])))
    measured = [r for r in out if r[0] >= measure_from]
    latencies = [ended - started for started, ended, error, _ in measured if error is None]
    ended_in_window = [r for r in out if r[2] is None and measure_from <= r[1] <= deadline]
    return {
        "clients": spec["clients"],
        "seconds": spec["duration"],
        "requests": len(ended_in_window),
        "per_second": round(len(ended_in_window) / spec["duration"], 1),
        "latency_ms": common.distribution(latencies),
        "errors": sum(1 for r in measured if r[2] is not None),
        "error_kinds": dict(Counter(r[2] for r in measured if r[2] is not None)),
        "errors_including_warmup": sum(1 for r in out if r[2] is not None),
        "completed_including_warmup": len(out),
        "latencies": latencies,
        "cards": sum(r[3] for r in measured if r[2] is None),  # over the `len(latencies)` measured requests
    }


async def _stream_one(conn: HttpConnection, probe: StreamProbe, path: str, at: float, *, model: bool) -> None:
    await asyncio.sleep(max(0.0, at - time.perf_counter()))
    probe.sent = time.time()
    if model:
        body = {"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": probe.tag}]}
        feed = probe.feed_model
    else:
        body, feed = {"content": probe.tag}, probe.feed_app
    try:
        probe.status, _ = await asyncio.wait_for(
            conn.request("POST", path, body, accept="text/event-stream", on_chunk=feed),
            STREAM_SECONDS + STREAM_RAMP_SECONDS + REQUEST_TIMEOUT,
        )
        if probe.status != 200:
            probe.outcome = f"http_{probe.status}"
    except _NETWORK_ERRORS as exc:
        probe.outcome = type(exc).__name__
    probe.ended = time.time()
    conn.close()


async def run_streams(spec: dict[str, Any]) -> dict[str, Any]:
    """`clients` streamed turns, each on a session of its own opened beforehand, started evenly over the ramp; and
    `floor_probes` streams straight from the model server, started among them."""
    n, tokens = spec["clients"], spec["tokens"]
    conns = [HttpConnection(spec["host"], spec["port"], tokens[i % len(tokens)]) for i in range(n)]
    gate = asyncio.Semaphore(16)

    async def opened(conn: HttpConnection) -> str:
        async with gate:
            return await _open_session(conn, prime=spec["prime"])

    paths = await asyncio.gather(*(opened(c) for c in conns))
    for conn in conns:
        conn.close()  # idle since its session opened (uvicorn closes idle connections after 5 s): a fresh one streams
    # Each probe's message is its tag (the fake server's log finds the stream's model request by it), a request
    # with candidates. The tag's mark is digits, which the request reader leaves out of the search: words there
    # ("stream", the step's name) would be searched for, and a request for activities would find none.
    mark = zlib.crc32(spec["tag"].encode())
    probes = [StreamProbe(tag=f"{TURN_TEXTS[i % len(TURN_TEXTS)]} ({mark:010d}{i:05d})") for i in range(n)]
    floors = [StreamProbe(tag=f"model probe {spec['tag']}-{i}") for i in range(spec["floor_probes"])]
    start, ramp = time.perf_counter() + max(0.2, spec.get("start_at", 0.0) - time.time()), spec["ramp"]
    tasks = [_stream_one(conns[i], probes[i], paths[i], start + ramp * i / n, model=False) for i in range(n)]
    for i, probe in enumerate(floors):
        conn = HttpConnection(spec["model_host"], spec["model_port"])
        at = start + ramp * (i + 0.5) / len(floors)
        tasks.append(_stream_one(conn, probe, "/v1/chat/completions", at, model=True))
    await asyncio.gather(*tasks)

    def dump(p: StreamProbe) -> dict[str, Any]:
        fields = ("tag", "sent", "first_delta", "ended", "status", "deltas", "cards", "outcome")
        return {k: getattr(p, k) for k in fields}

    return {"streams": [dump(p) for p in probes], "floor": [dump(p) for p in floors]}


def client_main() -> int:
    """The load generator: a segment spec on stdin, its result (and this process's CPU time) on stdout."""
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    spec = json.load(sys.stdin)
    result = asyncio.run(run_streams(spec) if spec["mode"] == "stream" else run_requests(spec))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["client_cpu_seconds"] = usage.ru_utime + usage.ru_stime
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(client_main())
