"""HTTP load through the real ASGI server: uvicorn with N workers (tests.harness.app_server.AppServer), production
settings (DEBUG off, PostgreSQL, Redis), the fake model server in a process of its own, and a load generator in a
third process (raw HTTP/1.1 over asyncio streams on uvloop, one keep-alive connection per client, loopback only).

Every server is warmed up first: turns one at a time on new connections (each worker loads its tokenizer once), then
from a few clients for 3 s. Every session is opened, then read once (GET its messages, which fills its cached access
entry), before its first measured turn: the measured turns are a conversation's steady state. What the first turns
of a fresh server cost is measured apart (`cold_start`), and so are streams that are their sessions' first turns.

1. Turns at zero model latency: 32 clients, each on its own session (a fresh one every 40 turns, so that no rolling
   summary falls due), against the floor measured on the same server in the same run: GET /api/v1/me, the cheapest
   authenticated DRF endpoint. Segments alternate floor and turns, three of each (2 s warm-up, 8 s measured each), so
   that drift in the machine's load touches both alike; with 2 and 3 workers.
   Targets: >= 150 turns/s, p99 < 250 ms, no errors, turns/s >= 0.4 x the floor's requests/s.
2. Server overhead at 500 ms model latency: each turn's latency minus the model's 500 ms, with 200 clients (the
   target) and with 32 (below saturation, for comparison). Target: p99 overhead < 50 ms at 200 clients.
3. Streams from a slow model (20 tokens/s for 10 s), with 1 and with 2 workers: steps of 100, 150, 200, 250, 350,
   500 and 750 concurrent streams (each on its own session, started over 2 s) until one fails; then, with 2 workers,
   100 streams that are their sessions' first turns. A step holds when every stream ends with its `done` event and
   the first delta reaches the client under 100 ms (p95) after the model sent its first token (the fake server's
   arrival time of the request plus one token interval). Streams straight from the fake server to the load
   generator, in the same step, give the floor of that lag. The server's memory is the summed RSS of the uvicorn
   master and its workers, sampled every 0.2 s. Target: >= 500 streams under 400 MB.

Throughput counts the requests that ended in the measured window; latency and errors those that started in it. For
each segment the CPU time of every process taking part (from /proc) is divided by the requests served: where a
request's cost goes. Run alone with `.venv/bin/python -m bench.http_load` (bench/results/http_load.json); with
`--profile`, the server's processes run cProfile on their threads' CPU clocks instead (bench/results/http_profile.json).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import common

WORKER_CHOICES = (2, 3)
TURN_CLIENTS = 32
WARMUP_SECONDS = 2.0
SEGMENT_SECONDS = 8.0
FLOOR_PAIRS = 3  # floor and turns segments, alternating
ROTATE_EVERY = 40  # turns per session: 80 short messages stay well inside the window, so no fold is due
REQUESTS_PER_CONNECTION = 20
SERVER_WARMUP = {"clients": 4, "warmup": 0.0, "duration": 3.0}
SLOW_CLIENTS = 200
SLOW_LIGHT_CLIENTS = 32
SLOW_LATENCY = 0.5
SLOW_WARMUP_SECONDS = 3.0
SLOW_SECONDS = 12.0
STREAM_STEPS = (100, 150, 200, 250, 350, 500, 750)
COLD_STREAMS = 100
STREAM_RATE = 20.0  # tokens per second
STREAM_SECONDS = 10.0
STREAM_RAMP_SECONDS = 2.0
STREAM_FLOOR_PROBES = 10
STREAM_WORKER_CHOICES = (1, 2)
PROFILE_WORKERS = 2
STREAM_SETUP_SECONDS = 8.0  # profiling: time to open (and read) the streams' sessions before they start
REQUEST_TIMEOUT = 30.0
TARGETS = {
    "turns_per_second": 150,
    "turn_p99_ms": 250,
    "errors": 0,
    "turns_vs_floor": 0.4,
    "slow_overhead_p99_ms": 50,
    "streams": 500,
    "stream_first_delta_p95_ms": 100,
    "stream_rss_mb": 400,
}
_NETWORK_ERRORS = (TimeoutError, OSError, asyncio.IncompleteReadError)


# --- the load generator (a process of its own) -------------------------------------------------------------


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
    outcome: str = "incomplete"  # done | error:<code> | incomplete | http_<status> | <exception name>
    _buffer: bytes = field(default=b"", repr=False)

    def feed_app(self, chunk: bytes) -> None:
        """Events of the app's stream: `delta`s, then `done` or `error`."""
        for block in self._blocks(chunk):
            if block.startswith(b"event: delta"):
                self._delta()
            elif block.startswith(b"event: done"):
                self.outcome = "done"
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


def _error_kind(status: int | None, exc: BaseException | None = None) -> str:
    return type(exc).__name__ if exc is not None else f"http_{status}"


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
    """Closed loop until `deadline`: each request as (started, ended, error kind or None)."""
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
                    out.append((now, now, f"open_session:{type(error).__name__}"))
                    await asyncio.sleep(0.1)
                    continue
            body = {"content": f"Any dinner ideas near the station tonight? ({index}.{done})"} if turns else None
            started, error = time.perf_counter(), None
            try:
                status, _ = await asyncio.wait_for(
                    conn.request("POST" if turns else "GET", path, body), REQUEST_TIMEOUT
                )
                if status != (201 if turns else 200):
                    error = f"http_{status}"
            except _NETWORK_ERRORS as exc:
                error = type(exc).__name__
            out.append((started, time.perf_counter(), error))
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
    latencies = [ended - started for started, ended, error in measured if error is None]
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
    probes = [StreamProbe(tag=f"stream probe {spec['tag']}-{i}") for i in range(n)]
    floors = [StreamProbe(tag=f"model probe {spec['tag']}-{i}") for i in range(spec["floor_probes"])]
    start, ramp = time.perf_counter() + max(0.2, spec.get("start_at", 0.0) - time.time()), spec["ramp"]
    tasks = [_stream_one(conns[i], probes[i], paths[i], start + ramp * i / n, model=False) for i in range(n)]
    for i, probe in enumerate(floors):
        conn = HttpConnection(spec["model_host"], spec["model_port"])
        at = start + ramp * (i + 0.5) / len(floors)
        tasks.append(_stream_one(conn, probe, "/v1/chat/completions", at, model=True))
    await asyncio.gather(*tasks)

    def dump(p: StreamProbe) -> dict[str, Any]:
        return {k: getattr(p, k) for k in ("tag", "sent", "first_delta", "ended", "status", "deltas", "outcome")}

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


# --- the orchestrator --------------------------------------------------------------------------------------


class Machine:
    """CPU time of every process that takes part, so that a segment's cost can be split among them."""

    def __init__(self, app: Any, fake: common.FakeModelServer) -> None:
        import redis

        self.app, self.fake = app, fake
        with redis.Redis.from_url(common.REDIS_URL) as client:
            self.redis_pid = int(client.info("server")["process_id"])
        self.postmaster_pid = common.postmaster_pid()

    def cpu(self) -> dict[str, float]:
        return {
            "app": common.cpu_seconds_tree(self.app.pid),
            **{f"worker {pid}": common.cpu_seconds([pid]) for pid in self.app.worker_pids()},
            "model_server": common.cpu_seconds([self.fake.pid]),
            "redis": common.cpu_seconds([self.redis_pid]),
            "postgres": common.cpu_seconds_tree(self.postmaster_pid) if self.postmaster_pid else 0.0,
            "machine_busy": _machine_busy_seconds(),
        }


def _machine_busy_seconds() -> float:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def run_segment(spec: dict[str, Any], machine: Machine) -> dict[str, Any]:
    """Run one segment in a load generator process, with the CPU each process spent meanwhile."""
    before, started = machine.cpu(), time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "bench.http_load", "--client"],
        cwd=common.PROJECT_ROOT,
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if completed.returncode:
        raise RuntimeError(f"the load generator failed:\n{completed.stderr[-3000:]}")
    wall = time.perf_counter() - started
    after = machine.cpu()
    result = json.loads(completed.stdout)
    cpu = {name: after[name] - before.get(name, 0.0) for name in after}
    cpu["load_generator"] = result.pop("client_cpu_seconds")
    served = result.get("completed_including_warmup") or len(result.get("streams", ())) or 1
    cores = os.cpu_count() or 1
    busy = cpu.pop("machine_busy")
    workers = sorted((cpu.pop(name) for name in list(cpu) if name.startswith("worker ")), reverse=True)
    result["cpu"] = {
        "wall_seconds": round(wall, 2),
        "machine_busy_fraction": round(busy / wall / cores, 3),
        # Each worker's share of the app's CPU: uneven shares mean one worker's GIL is the bottleneck.
        "worker_shares": [round(w / (sum(workers) or 1), 2) for w in workers],
        # CPU that none of the processes above spent: other work on a shared machine, which the numbers suffer.
        "others_fraction": round(max(0.0, busy - sum(cpu.values())) / wall / cores, 3),
        "ms_per_request": {name: round(seconds * 1000 / served, 2) for name, seconds in cpu.items()},
    }
    return result


@dataclass
class Rig:
    """A running app server with the fake model server it calls and the customers who call it."""

    app: Any
    fake: common.FakeModelServer
    machine: Machine
    tokens: list[str]

    def spec(self, **fields: Any) -> dict[str, Any]:
        return {"host": self.app.host, "port": self.app.port, "tokens": self.tokens, **fields}

    def warm_up(self) -> None:
        """Turns one at a time, each on a new connection (which lands on any worker), then from a few clients: every
        worker loads its tokenizer once and opens its pools. (Concurrent first turns in a fresh worker would each
        build the tokenizer: see `cold_start`.)"""
        self.fake.configure()
        one_by_one = {"clients": 1, "warmup": 0.0, "duration": 1.0 + self.app.workers, "fresh_connections": True}
        run_segment(self.spec(mode="turns", **one_by_one), self.machine)
        run_segment(self.spec(mode="turns", **SERVER_WARMUP), self.machine)

    def cold_start(self) -> dict[str, Any]:
        """32 clients' turns on the fresh server: what the first seconds of a new deployment look like."""
        self.fake.configure()
        spec = self.spec(mode="turns", clients=TURN_CLIENTS, warmup=0.0, duration=4.0)
        segment = run_segment(spec, self.machine)
        return {key: segment[key] for key in ("clients", "seconds", "requests", "latency_ms", "errors", "error_kinds")}

    def rss_mb(self) -> float:
        """The summed RSS of the uvicorn master and its workers."""
        return round(common.rss_bytes([self.app.pid, *self.app.worker_pids()]) / 2**20, 1)

    def errors_logged(self) -> int:
        from tests.harness.logs import json_lines

        return sum(1 for r in json_lines(self.app.log_text()) if r.get("level") in ("error", "critical"))


@contextlib.contextmanager
def rig(fake: common.FakeModelServer, customers: list[common.Customer], workers: int, log_dir: Path, **kw: Any):
    with _app_server(fake, workers, log_dir, **kw) as app:
        yield Rig(app, fake, Machine(app, fake), [c.token for c in customers])


def _app_server(fake: common.FakeModelServer, workers: int, log_dir: Path, *, profile: bool = False) -> Any:
    """The app under uvicorn; with `profile`, every process runs common.ThreadProfiler into `log_dir`/profile."""
    from tests.harness.app_server import AppServer

    env = common.django_env(OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="bench")
    for name in ("PATH", "HOME", "PYTHONUNBUFFERED", "DJANGO_SETTINGS_MODULE"):
        env.pop(name)  # AppServer sets these itself
    if profile:
        site = log_dir / "site"
        site.mkdir(parents=True)
        (site / "sitecustomize.py").write_text(common.SITECUSTOMIZE)
        (log_dir / "profile").mkdir()
        env |= {"PYTHONPATH": f"{site}:{common.PROJECT_ROOT}", common.PROFILE_ENV: str(log_dir / "profile")}
    return AppServer(env, workers=workers, log_dir=log_dir, startup_timeout=60)


def _merged(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Segments of one kind taken together: requests per second, latency, errors and CPU per request."""
    latencies = [t for p in parts for t in p["latencies"]]
    names = parts[0]["cpu"]["ms_per_request"]
    return {
        "per_second": round(sum(p["requests"] for p in parts) / sum(p["seconds"] for p in parts), 1),
        "per_second_segments": [p["per_second"] for p in parts],
        "latency_ms": common.distribution(latencies),
        "errors": sum(p["errors"] for p in parts),
        "errors_including_warmup": sum(p["errors_including_warmup"] for p in parts),
        "error_kinds": dict(sum((Counter(p["error_kinds"]) for p in parts), Counter())),
        "cpu_ms_per_request": {
            k: round(sum(p["cpu"]["ms_per_request"][k] for p in parts) / len(parts), 2) for k in names
        },
        "machine_busy_fraction": [p["cpu"]["machine_busy_fraction"] for p in parts],
        "others_fraction": [p["cpu"]["others_fraction"] for p in parts],
        "worker_shares": [p["cpu"]["worker_shares"] for p in parts],
    }


def turns_vs_floor(r: Rig, *, cold_start: bool) -> dict[str, Any]:
    """Floor and turns, alternating; on the first server, its cold start first (before any warm-up)."""
    base = r.spec(clients=TURN_CLIENTS, warmup=WARMUP_SECONDS, duration=SEGMENT_SECONDS)
    result: dict[str, Any] = {}
    if cold_start:
        result["cold_start"] = r.cold_start()
        result["cold_start"]["rss_mb_after"] = r.rss_mb()
    r.warm_up()
    segments = [run_segment({**base, "mode": mode}, r.machine) for mode in ("me", "turns") * FLOOR_PAIRS]
    result["floor_me"], result["turns"] = _merged(segments[0::2]), _merged(segments[1::2])
    result["turns_vs_floor"] = round(result["turns"]["per_second"] / result["floor_me"]["per_second"], 3)
    return result


def slow_model(r: Rig) -> dict[str, Any]:
    """Turns against a model that takes 500 ms, from 200 clients and from 32: latency minus the model's time."""
    r.warm_up()
    r.fake.configure(latency=SLOW_LATENCY)
    result = {}
    for name, clients in (("clients_200", SLOW_CLIENTS), ("clients_32", SLOW_LIGHT_CLIENTS)):
        spec = r.spec(mode="turns", clients=clients, warmup=SLOW_WARMUP_SECONDS, duration=SLOW_SECONDS)
        segment = run_segment(spec, r.machine)
        segment["overhead_ms"] = common.distribution(t - SLOW_LATENCY for t in segment.pop("latencies"))
        result[name] = segment
    return result


def stream_step(r: Rig, n: int, *, prime: bool) -> dict[str, Any]:
    """`n` concurrent streams; whether the server held them, how fast first deltas came, and its memory."""
    r.fake.configure(tokens_per_second=STREAM_RATE, duration=STREAM_SECONDS)
    spec = r.spec(
        mode="stream",
        model_host=r.fake.host,
        model_port=r.fake.port,
        clients=n,
        floor_probes=STREAM_FLOOR_PROBES,
        ramp=STREAM_RAMP_SECONDS,
        tag=f"{n}-{'primed' if prime else 'first'}",
        prime=prime,
    )
    pids = [r.app.pid, *r.app.worker_pids()]
    peak = {"rss": common.rss_bytes(pids)}
    baseline = peak["rss"]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            peak["rss"] = max(peak["rss"], common.rss_bytes(pids))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        raw = run_segment(spec, r.machine)
    finally:
        stop.set()
        sampler.join()
    first_token = {}  # tag -> when the model sent its first token (wall clock)
    for request in r.fake.requests():
        messages = (request.get("body") or {}).get("messages") or []
        if messages:
            first_token[messages[-1].get("content")] = request["received_at"] + 1 / STREAM_RATE

    def lags(probes: list[dict[str, Any]]) -> list[float]:
        return [
            p["first_delta"] - first_token[p["tag"]] for p in probes if p["first_delta"] and p["tag"] in first_token
        ]

    streams = raw["streams"]
    outcomes = Counter(p["outcome"] for p in streams)
    lag = common.distribution(lags(streams))
    result = {
        "streams": n,
        "first_turns": not prime,
        "completed": outcomes.get("done", 0),
        "outcomes": dict(outcomes),
        "most_open_at_once": _most_open(streams),
        "first_delta_after_model_ms": lag,
        "floor_first_token_lag_ms": common.distribution(lags(raw["floor"])),
        "request_to_model_ms": common.distribution(
            first_token[p["tag"]] - 1 / STREAM_RATE - p["sent"] for p in streams if p["tag"] in first_token
        ),
        "stream_seconds": common.distribution((p["ended"] - p["sent"] for p in streams), scale=1.0),
        "rss_mb_before": round(baseline / 2**20, 1),
        "rss_mb_peak": round(peak["rss"] / 2**20, 1),
        "cpu": raw["cpu"],
    }
    result["held"] = (
        result["completed"] == n and lag.get("n") == n and lag["p95"] < TARGETS["stream_first_delta_p95_ms"]
    )
    return result


def streams(r: Rig, *, first_turns: bool) -> dict[str, Any]:
    """Steps of streams on primed sessions until one fails; then, if asked, one step of sessions' first turns."""
    idle = r.rss_mb()
    r.warm_up()
    warm = r.rss_mb()
    steps = []
    for n in STREAM_STEPS:
        steps.append(stream_step(r, n, prime=True))
        if not steps[-1]["held"]:
            break
    if first_turns:
        steps.append(stream_step(r, COLD_STREAMS, prime=False))
    return {
        "workers": r.app.workers,
        "rss_mb_idle": idle,
        "rss_mb_after_warm_up": warm,
        "steps": steps,
        "server_errors_logged": r.errors_logged(),
    }


def _most_open(probes: list[dict[str, Any]]) -> int:
    edges = sorted([(p["sent"], 1) for p in probes] + [(p["ended"] or p["sent"], -1) for p in probes])
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    return most


def run(customers: list[common.Customer]) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # hundreds of sockets in every process
    result: dict[str, Any] = {"turns": {}}
    try:
        with common.FakeModelServer() as fake, tempfile.TemporaryDirectory(prefix="bench-http-") as logs:
            for workers in WORKER_CHOICES:
                with rig(fake, customers, workers, Path(logs) / f"turns-{workers}") as r:
                    result["turns"][str(workers)] = turns_vs_floor(r, cold_start=workers == WORKER_CHOICES[0])
                    result["turns"][str(workers)]["server_errors_logged"] = r.errors_logged()
            best = max(WORKER_CHOICES, key=lambda w: result["turns"][str(w)]["turns"]["per_second"])
            result["best_workers"] = best
            with rig(fake, customers, best, Path(logs) / "slow") as r:
                result["slow_model"] = {"workers": best, **slow_model(r), "server_errors_logged": r.errors_logged()}
            result["streams"] = {}
            for workers in STREAM_WORKER_CHOICES:
                with rig(fake, customers, workers, Path(logs) / f"streams-{workers}") as r:
                    result["streams"][str(workers)] = streams(r, first_turns=workers == STREAM_WORKER_CHOICES[-1])
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    result["summary"] = summarize(result)
    return result


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    best = result["turns"][str(result["best_workers"])]
    slow = result["slow_model"]["clients_200"]
    held = [
        (int(workers), step)
        for workers, config in result["streams"].items()
        for step in config["steps"]
        if step["held"] and not step["first_turns"]
    ]
    stream_workers, most = max(held, key=lambda h: (h[1]["streams"], -h[1]["rss_mb_peak"])) if held else (None, None)
    summary = {
        "workers": result["best_workers"],
        "turns_per_second": best["turns"]["per_second"],
        "turn_p50_ms": best["turns"]["latency_ms"]["median"],
        "turn_p95_ms": best["turns"]["latency_ms"]["p95"],
        "turn_p99_ms": best["turns"]["latency_ms"]["p99"],
        "turn_errors": best["turns"]["errors"],
        "floor_me_per_second": best["floor_me"]["per_second"],
        "turns_vs_floor": best["turns_vs_floor"],
        "slow_turns_per_second": slow["per_second"],
        "slow_overhead_p50_ms": slow["overhead_ms"].get("median"),
        "slow_overhead_p99_ms": slow["overhead_ms"].get("p99"),
        "slow_errors": slow["errors"],
        "stream_workers": stream_workers,
        "streams_held": most["streams"] if most else 0,
        "stream_first_delta_p95_ms": most["first_delta_after_model_ms"]["p95"] if most else None,
        "stream_rss_mb": most["rss_mb_peak"] if most else None,
    }
    summary["met"] = {
        "turns_per_second": summary["turns_per_second"] >= TARGETS["turns_per_second"],
        "turn_p99_ms": summary["turn_p99_ms"] < TARGETS["turn_p99_ms"],
        "turn_errors": summary["turn_errors"] == TARGETS["errors"],
        "turns_vs_floor": summary["turns_vs_floor"] >= TARGETS["turns_vs_floor"],
        "slow_overhead_p99_ms": (summary["slow_overhead_p99_ms"] or float("inf")) < TARGETS["slow_overhead_p99_ms"],
        "streams": summary["streams_held"] >= TARGETS["streams"]
        and (summary["stream_rss_mb"] or 0) < TARGETS["stream_rss_mb"],
    }
    return summary


def _ms(distribution: dict[str, float], key: str) -> str:
    value = distribution.get(key)
    return f"{value:.1f}ms" if value is not None else "-"


def print_table(result: dict[str, Any]) -> None:
    print("HTTP load through uvicorn (production settings), fake model server in its own process")
    print(
        f"{'workers':>7} | {'floor /me rps':>13} | {'turns/s':>7} {'p50':>8} {'p95':>8} {'p99':>8} {'err':>4} | ratio"
    )
    for workers, row in result["turns"].items():
        t = row["turns"]
        lat = t["latency_ms"]
        print(
            f"{workers:>7} | {row['floor_me']['per_second']:>13.1f} | {t['per_second']:>7.1f} {_ms(lat, 'median'):>8}"
            f" {_ms(lat, 'p95'):>8} {_ms(lat, 'p99'):>8} {t['errors']:>4} | {row['turns_vs_floor']:.2f}"
        )
    slow = result["slow_model"]
    for name in ("clients_200", "clients_32"):
        s = slow[name]
        print(
            f"500 ms model, {s['clients']} clients, {slow['workers']} workers: {s['per_second']:.1f} turns/s, overhead"
            f" p50 {_ms(s['overhead_ms'], 'median')} p99 {_ms(s['overhead_ms'], 'p99')}, errors {s['errors']}"
        )
    print(f"streams ({STREAM_RATE:.0f} tokens/s for {STREAM_SECONDS:.0f} s); first delta after the model's first token")
    header = (
        f"{'workers':>7} {'streams':>11} | {'done':>5} | {'p50':>8} {'p95':>8} {'floor p95':>9} | {'RSS':>8} | held"
    )
    print(header)
    for workers, config in result["streams"].items():
        for label, rss in (("idle", config["rss_mb_idle"]), ("warm", config["rss_mb_after_warm_up"])):
            print(f"{workers:>7} {label:>11} | {'':>5} | {'':>8} {'':>8} {'':>9} | {rss:>6.1f}MB |")
        _print_steps(workers, config["steps"])


def _print_steps(workers: str, steps: list[dict[str, Any]]) -> None:
    for s in steps:
        lag, floor = s["first_delta_after_model_ms"], s["floor_first_token_lag_ms"]
        label = f"{s['streams']}{' first' if s['first_turns'] else ''}"
        print(
            f"{workers:>7} {label:>11} | {s['completed']:>5} | {_ms(lag, 'median'):>8} {_ms(lag, 'p95'):>8}"
            f" {_ms(floor, 'p95'):>9} | {s['rss_mb_peak']:>6.1f}MB | {'yes' if s['held'] else 'no'}"
        )


# --- profiling ---------------------------------------------------------------------------------------------


def profile_run(customers: list[common.Customer]) -> dict[str, Any]:
    """Where the server's CPU goes: zero-latency turns, GET /me, and 100 streams, each on a fresh server whose
    processes run common.ThreadProfiler (which slows them: these runs give shares, not throughput). What the warm-up
    cost is forgotten (SIGUSR1) before the profiled segment; the workers write their profiles on SIGUSR2."""
    requests = {"clients": TURN_CLIENTS, "warmup": WARMUP_SECONDS, "duration": SEGMENT_SECONDS}
    cases = {
        "turns": {"mode": "turns", **requests},
        "floor_me": {"mode": "me", **requests},
        "streams": {"mode": "stream", "clients": STREAM_STEPS[0], "floor_probes": 0, "ramp": STREAM_RAMP_SECONDS},
    }
    result = {}
    with common.FakeModelServer() as fake, tempfile.TemporaryDirectory(prefix="bench-profile-") as logs:
        for name, case in cases.items():
            with rig(fake, customers, PROFILE_WORKERS, Path(logs) / name, profile=True) as r:
                r.warm_up()
                if case["mode"] == "stream":
                    r.fake.configure(tokens_per_second=STREAM_RATE, duration=STREAM_SECONDS)
                    case |= {"model_host": fake.host, "model_port": fake.port, "tag": "profile", "prime": True}
                workers = r.app.worker_pids()
                # The streams start once their sessions are open; an idle event loop runs a Python signal handler
                # only once something wakes it: forget the warm-up when the load starts, ask for the profiles while
                # it still runs (its last second goes unprofiled).
                start = STREAM_SETUP_SECONDS if case["mode"] == "stream" else 0.0
                case["start_at"] = time.time() + start
                end = start + case.get("duration", STREAM_SECONDS) + case.get("warmup", STREAM_RAMP_SECONDS) - 1.0
                timers = [
                    threading.Timer(at, _signal_all, (workers, sig))
                    for at, sig in ((start, signal.SIGUSR1), (end, signal.SIGUSR2))
                ]
                for timer in timers:
                    timer.start()
                run_segment(r.spec(**case), r.machine)
                for timer in timers:
                    timer.join()
                written = Path(logs) / name / "profile"
                deadline = time.monotonic() + 10
                while len(list(written.glob("profile-*.pstats"))) < len(workers) and time.monotonic() < deadline:
                    time.sleep(0.1)
                result[name] = common.merged_profile(written)
    return result


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        os.kill(pid, sig)


def print_profile(result: dict[str, Any]) -> None:
    for name, profile in result.items():
        print(f"\n{name}: {profile['cpu_seconds']} CPU seconds profiled in the server's processes")
        print("  inclusive (the function and what it calls):")
        for function, share in profile["inclusive_percent"][:40]:
            print(f"    {share:5.1f}%  {function}")
        print("  self:")
        for function, share in profile["self_percent"][:20]:
            print(f"    {share:5.1f}%  {function}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http_load", description=__doc__.splitlines()[0])
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help="profile the server's CPU instead of measuring")
    args = parser.parse_args(argv)
    if args.client:
        return client_main()
    with common.prepared() as customers:
        if args.profile:
            profile = profile_run(customers)
            path = common.write_result("http_profile", profile)
            print_profile(profile)
            print(f"written to {path}")
            return 0
        result = run(customers)
    path = common.write_result("http_load", result)
    print_table(result)
    print(f"written to {path}")
    return 0 if all(result["summary"]["met"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
