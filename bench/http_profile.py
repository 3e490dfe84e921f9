"""`python -m bench.http_profile` (or `bench.http_load --profile`): where the server's CPU goes, as cProfile of its
processes (bench/profiler.py): zero-latency turns, GET /me and 100 streams, each on a fresh server. The servers are
uvicorn's own (the same ASGI app and HTTP protocol as the shipped stack's uvicorn workers): a gunicorn worker takes
SIGUSR1 and SIGUSR2 for itself (reopening logs; the default action, which ends the process), which the profiler
needs. Written to bench/results/http_profile.json.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench import common
from bench.http_load import (
    SEGMENT_SECONDS,
    STREAM_RATE,
    STREAM_STEPS,
    TURN_CLIENTS,
    WARMUP_SECONDS,
    WORKERS,
)
from bench.http_rig import rig, run_segment
from bench.load_client import STREAM_RAMP_SECONDS, STREAM_SECONDS

PROFILED_STACK = "asgi-uvicorn"
STREAM_SETUP_SECONDS = 8.0  # time to open (and read) the streams' sessions before they start


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
    with common.FakeModelServer(recommend=True) as fake, tempfile.TemporaryDirectory(prefix="bench-profile-") as logs:
        for name, case in cases.items():
            with rig(fake, customers, WORKERS, Path(logs) / name, stack=PROFILED_STACK, profile=True) as r:
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


def main() -> int:
    with common.prepared() as customers:
        profile = profile_run(customers)
    path = common.write_result("http_profile", profile)
    print_profile(profile)
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
