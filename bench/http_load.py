"""HTTP load through the real servers, with production settings (DEBUG off, PostgreSQL, Redis), the fake model
server in a process of its own and a load generator in a third (bench/load_client.py); the servers and how a
segment runs are in bench/http_rig.py, the profiler run in bench/http_profile.py.

Every turn is a recommending one: the customers ask for things the demo catalog (seeded by bench.seed) has candidates
for (load_client.TURN_TEXTS), so each prompt carries its candidate block, and the fake model answers as a grounded
model (`--recommend`): the structured reply proposing the first two candidates, whose cards the app checks and
returns. Every segment counts the cards its turns carried; a load whose turns carry none measured the wrong turn
(target: cards per turn >= 1 in every segment).

Every server is warmed up first: turns one at a time on new connections, then from a few clients for 3 s. Every
session is opened, then read once (GET its messages, which fills its cached access entry), before its first measured
turn: the measured turns are a conversation's steady state. What the first turns of a fresh server cost is measured
apart (`cold_start`), and so are streams that are their sessions' first turns.

1. The serving stacks (http_rig.STACKS), 2 workers each: turns at zero model latency from 32 clients, each on its own
   session (a fresh one every 40 turns, so that no rolling summary falls due), against the floor measured on the
   same server in the same run: GET /api/v1/me, the cheapest authenticated DRF endpoint. Segments alternate floor
   and turns (2 s warm-up, 8 s measured each), so that drift in the machine's load touches both alike; the memory
   (RSS and PSS) of each server idle and warm. Targets, on the shipped stack (`SHIPPED`, the README's command):
   turns/s >= 0.5 x the floor's requests/s, p99 < 250 ms, no errors.
2. Server overhead at 500 ms model latency: each turn's latency minus the model's 500 ms, with 200 clients (the
   target) and with 32 (below saturation, for comparison). Target: p99 overhead < 100 ms at 200 clients.
3. Streams from a slow model (20 tokens/s for 10 s) on the shipped stack: steps of concurrent streams (each on its own
   session, started over 2 s) until one fails to complete them all; then 100 streams that are their sessions' first
   turns. A step holds when every stream ends with its `done` event and the first delta reaches the client under
   100 ms (p95) after the model sent its first token (the fake server's arrival time of the request plus one token
   interval; the fake sends the structured reply's members before the text with its first word). Streams straight
   from the fake server to the load generator, in the same step, give the floor of that lag. The server's memory is
   the summed PSS (and RSS) of the master and its workers, sampled every 0.2 s. Target: >= 500 streams under 400 MB
   PSS.

Throughput counts the requests that ended in the measured window; latency and errors those that started in it. For
each segment the CPU time of every process taking part (from /proc) is divided by the requests served: where a
request's cost goes. Run alone with `.venv/bin/python -m bench.http_load` (bench/results/http_load.json); with
`--profile`, the server's processes run cProfile on their threads' CPU clocks instead (bench/results/http_profile.json).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from bench import common
from bench.http_rig import STACKS, Rig, rig, run_segment
from bench.load_client import STREAM_RAMP_SECONDS, STREAM_SECONDS

SHIPPED = "asgi-gunicorn"  # the README's deployment: it serves the JSON endpoints and the streams
WORKERS = 2
TURN_CLIENTS = 32
WARMUP_SECONDS = 2.0
SEGMENT_SECONDS = 8.0
FLOOR_PAIRS = 2  # floor and turns segments, alternating
SLOW_CLIENTS = 200
SLOW_LIGHT_CLIENTS = 32
SLOW_LATENCY = 0.5
SLOW_WARMUP_SECONDS = 3.0
SLOW_SECONDS = 12.0
STREAM_STEPS = (100, 250, 500, 750)
COLD_STREAMS = 100
STREAM_RATE = 20.0  # tokens per second
STREAM_FLOOR_PROBES = 10
FAST_STREAMS, FAST_RATE, FAST_SECONDS = 200, 100.0, 4.0  # coalescing, before and after: 400 tokens a stream
TARGETS = {
    "turn_p99_ms": 250,
    "errors": 0,
    "turns_vs_floor": 0.5,
    "slow_overhead_p99_ms": 100,
    "streams": 500,
    "stream_first_delta_p95_ms": 100,
    "stream_pss_mb": 400,
    "cards_per_turn": 1,
}


def _merged(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Segments of one kind taken together: requests per second, latency, errors and CPU per request."""
    latencies = [t for p in parts for t in p["latencies"]]
    names = parts[0]["cpu"]["ms_per_request"]
    return {
        "per_second": round(sum(p["requests"] for p in parts) / sum(p["seconds"] for p in parts), 1),
        "cards_per_turn": _per_turn(sum(p["cards"] for p in parts), len(latencies)),
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


def _per_turn(cards: int, turns: int) -> float:
    return round(cards / turns, 2) if turns else 0.0


def turns_vs_floor(r: Rig, *, cold_start: bool) -> dict[str, Any]:
    """Floor and turns, alternating; on the first server, its cold start first (before any warm-up)."""
    base = r.spec(clients=TURN_CLIENTS, warmup=WARMUP_SECONDS, duration=SEGMENT_SECONDS)
    result: dict[str, Any] = {}
    if cold_start:
        result["cold_start"] = r.cold_start(TURN_CLIENTS)
        result["cold_start"]["rss_mb_after"] = r.rss_mb()
        result["cold_start"]["pss_mb_after"] = r.pss_mb()
    else:
        result["memory_idle_mb"] = {"rss": r.rss_mb(), "pss": r.pss_mb()}
    r.warm_up()
    result["memory_warm_mb"] = {"rss": r.rss_mb(), "pss": r.pss_mb()}
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
        latencies = segment.pop("latencies")
        segment["overhead_ms"] = common.distribution(t - SLOW_LATENCY for t in latencies)
        segment["cards_per_turn"] = _per_turn(segment["cards"], len(latencies))
        result[name] = segment
    return result


def stream_step(
    r: Rig, n: int, *, prime: bool, rate: float = STREAM_RATE, seconds: float = STREAM_SECONDS
) -> dict[str, Any]:
    """`n` concurrent streams; whether the server held them, how fast first deltas came, and its memory."""
    r.fake.configure(tokens_per_second=rate, duration=seconds)
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
    pids = r.pids()
    peak = {"rss": common.rss_bytes(pids), "pss": common.pss_bytes(pids)}
    baseline = dict(peak)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            peak["rss"] = max(peak["rss"], common.rss_bytes(pids))
            peak["pss"] = max(peak["pss"], common.pss_bytes(pids))

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
            first_token[messages[-1].get("content")] = request["received_at"] + 1 / rate

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
            first_token[p["tag"]] - 1 / rate - p["sent"] for p in streams if p["tag"] in first_token
        ),
        "stream_seconds": common.distribution((p["ended"] - p["sent"] for p in streams), scale=1.0),
        "rss_mb_before": round(baseline["rss"] / 2**20, 1),
        "rss_mb_peak": round(peak["rss"] / 2**20, 1),
        "pss_mb_before": round(baseline["pss"] / 2**20, 1),
        "pss_mb_peak": round(peak["pss"] / 2**20, 1),
        "delta_events_per_stream": round(sum(p["deltas"] for p in streams) / max(len(streams), 1), 1),
        "cards_per_turn": _per_turn(sum(p["cards"] for p in streams), outcomes.get("done", 0)),
        "cpu": raw["cpu"],
    }
    result["held"] = (
        result["completed"] == n and lag.get("n") == n and lag["p95"] < TARGETS["stream_first_delta_p95_ms"]
    )
    return result


def streams(r: Rig, *, first_turns: bool) -> dict[str, Any]:
    """Steps of streams on primed sessions until one fails to complete every stream; then, if asked, one step of
    sessions' first turns. (A step can miss the first-delta target and the next still be worth measuring: the
    grounding releases a recommending reply's text a sentence at a time, which the lag includes.)"""
    idle = {"rss": r.rss_mb(), "pss": r.pss_mb()}
    r.warm_up()
    warm = {"rss": r.rss_mb(), "pss": r.pss_mb()}
    steps = []
    for n in STREAM_STEPS:
        steps.append(stream_step(r, n, prime=True))
        if steps[-1]["completed"] < n:
            break
    if first_turns:
        steps.append(stream_step(r, COLD_STREAMS, prime=False))
    return {
        "workers": r.app.workers,
        "stack": SHIPPED,
        "memory_idle_mb": idle,
        "memory_warm_mb": warm,
        "steps": steps,
        "server_errors_logged": r.errors_logged(),
    }


def coalescing(fake: common.FakeModelServer, customers: list[common.Customer], logs: Path) -> dict[str, Any]:
    """Streams from a fast model (FAST_RATE tokens/s), with SSE_COALESCE_MS=0 (an event per token, as before) and at
    its default, on the shipped stack: delta events per stream, the app's CPU per stream, the first delta's lag."""
    result = {}
    for name, env in (("per_token", {"SSE_COALESCE_MS": "0"}), ("coalesced", {})):
        with rig(fake, customers, WORKERS, logs / f"coalesce-{name}", stack=SHIPPED, env=env) as r:
            r.warm_up()
            step = stream_step(r, FAST_STREAMS, prime=True, rate=FAST_RATE, seconds=FAST_SECONDS)
            step["app_cpu_ms_per_stream"] = step["cpu"]["ms_per_request"]["app"]
            result[name] = step
    return result


def _most_open(probes: list[dict[str, Any]]) -> int:
    edges = sorted([(p["sent"], 1) for p in probes] + [(p["ended"] or p["sent"], -1) for p in probes])
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    return most


def run(customers: list[common.Customer], stacks: tuple[str, ...] = STACKS) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # hundreds of sockets in every process
    result: dict[str, Any] = {"shipped": SHIPPED, "workers": WORKERS, "turns": {}}
    try:
        with common.FakeModelServer(recommend=True) as fake, tempfile.TemporaryDirectory(prefix="bench-http-") as logs:
            for stack in stacks:
                with rig(fake, customers, WORKERS, Path(logs) / f"turns-{stack}", stack=stack) as r:
                    result["turns"][stack] = turns_vs_floor(r, cold_start=stack == SHIPPED)
                    result["turns"][stack]["server_errors_logged"] = r.errors_logged()
            with rig(fake, customers, WORKERS, Path(logs) / "slow", stack=SHIPPED) as r:
                result["slow_model"] = {"stack": SHIPPED, **slow_model(r), "server_errors_logged": r.errors_logged()}
            with rig(fake, customers, WORKERS, Path(logs) / "streams", stack=SHIPPED) as r:
                result["streams"] = streams(r, first_turns=True)
            result["coalescing"] = coalescing(fake, customers, Path(logs))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    result["summary"] = summarize(result)
    return result


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    shipped = result["turns"][SHIPPED]
    slow = result["slow_model"]["clients_200"]
    held = [s for s in result["streams"]["steps"] if s["held"] and not s["first_turns"]]
    most = max(held, key=lambda s: s["streams"]) if held else None
    # The figures beside the count: of the largest step held, or when none held, of the largest step of primed streams.
    shown = most or max((s for s in result["streams"]["steps"] if not s["first_turns"]), key=lambda s: s["streams"])
    summary = {
        "stack": SHIPPED,
        "workers": result["workers"],
        "turns_per_second": shipped["turns"]["per_second"],
        "turn_p50_ms": shipped["turns"]["latency_ms"]["median"],
        "turn_p95_ms": shipped["turns"]["latency_ms"]["p95"],
        "turn_p99_ms": shipped["turns"]["latency_ms"]["p99"],
        "turn_errors": shipped["turns"]["errors"],
        "floor_me_per_second": shipped["floor_me"]["per_second"],
        "turns_vs_floor": shipped["turns_vs_floor"],
        "stacks": {
            stack: {
                "floor_me_per_second": row["floor_me"]["per_second"],
                "turns_per_second": row["turns"]["per_second"],
                "turn_p99_ms": row["turns"]["latency_ms"]["p99"],
                "warm_pss_mb": row["memory_warm_mb"]["pss"],
                "warm_rss_mb": row["memory_warm_mb"]["rss"],
            }
            for stack, row in result["turns"].items()
        },
        "slow_turns_per_second": slow["per_second"],
        "slow_overhead_p50_ms": slow["overhead_ms"].get("median"),
        "slow_overhead_p99_ms": slow["overhead_ms"].get("p99"),
        "slow_errors": slow["errors"],
        "streams_held": most["streams"] if most else 0,
        "stream_step_shown": shown["streams"],
        "stream_first_delta_p95_ms": shown["first_delta_after_model_ms"].get("p95"),
        "stream_pss_mb": shown["pss_mb_peak"],
        "stream_rss_mb": shown["rss_mb_peak"],
        "coalescing": {
            name: {
                "delta_events_per_stream": step["delta_events_per_stream"],
                "app_cpu_ms_per_stream": step["app_cpu_ms_per_stream"],
                "first_delta_p95_ms": step["first_delta_after_model_ms"].get("p95"),
                "completed": step["completed"],
            }
            for name, step in result["coalescing"].items()
        },
        "cards_per_turn": cards_per_turn(result),
    }
    summary["met"] = {
        "turn_p99_ms": summary["turn_p99_ms"] < TARGETS["turn_p99_ms"],
        "turn_errors": summary["turn_errors"] == TARGETS["errors"],
        "turns_vs_floor": summary["turns_vs_floor"] >= TARGETS["turns_vs_floor"],
        "slow_overhead_p99_ms": (summary["slow_overhead_p99_ms"] or float("inf")) < TARGETS["slow_overhead_p99_ms"],
        "streams": summary["streams_held"] >= TARGETS["streams"]
        and (summary["stream_pss_mb"] or 0) < TARGETS["stream_pss_mb"],
        "cards_per_turn": summary["cards_per_turn"]["fewest"] >= TARGETS["cards_per_turn"],
    }
    return summary


def cards_per_turn(result: dict[str, Any]) -> dict[str, float]:
    """The cards a turn carried: on the shipped stack at zero latency, at 500 ms (200 clients), in the streams (the
    step with the fewest), and the fewest of every segment (every stack, both slow loads, every stream step)."""
    slow, steps = result["slow_model"], result["streams"]["steps"]
    every = [
        *(row["turns"]["cards_per_turn"] for row in result["turns"].values()),
        *(slow[name]["cards_per_turn"] for name in ("clients_200", "clients_32")),
        *(step["cards_per_turn"] for step in steps),
        *(step["cards_per_turn"] for step in result["coalescing"].values()),
    ]
    return {
        "turns": result["turns"][SHIPPED]["turns"]["cards_per_turn"],
        "slow_model": slow["clients_200"]["cards_per_turn"],
        "streams": min(step["cards_per_turn"] for step in steps),
        "fewest": min(every),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http_load", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="store_true", help="profile the server's CPU instead of measuring")
    parser.add_argument("--stacks", default=",".join(STACKS), help="the stacks whose turns to compare (comma list)")
    args = parser.parse_args(argv)
    if args.profile:
        from bench import http_profile

        return http_profile.main()
    stacks = tuple(args.stacks.split(","))
    if SHIPPED not in stacks:
        parser.error(f"--stacks must include {SHIPPED}")
    with common.prepared() as customers:
        result = run(customers, stacks)
    path = common.write_result("http_load", result)
    from bench import http_table

    http_table.print_table(result)
    http_table.print_coalescing(result)
    print(f"written to {path}")
    return 0 if all(result["summary"]["met"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
