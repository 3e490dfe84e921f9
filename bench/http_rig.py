"""The servers bench.http_load measures, and how a segment is run against one: the app under one of the serving
stacks (`STACKS`) with the fake model server it calls, the CPU every process spends, and the load generator
(bench/load_client.py) in a process of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import common
from bench.load_client import STREAM_RAMP_SECONDS, STREAM_SECONDS  # noqa: F401

SERVER_WARMUP = {"clients": 4, "warmup": 0.0, "duration": 3.0}


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
            "machine_busy": common.machine_busy_seconds(),
        }


def run_segment(spec: dict[str, Any], machine: Machine) -> dict[str, Any]:
    """Run one segment in a load generator process, with the CPU each process spent meanwhile."""
    before, started = machine.cpu(), time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "bench.load_client"],
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

    def cold_start(self, clients: int) -> dict[str, Any]:
        """`clients` clients' turns on the fresh server: what the first seconds of a new deployment look like."""
        self.fake.configure()
        spec = self.spec(mode="turns", clients=clients, warmup=0.0, duration=4.0)
        segment = run_segment(spec, self.machine)
        return {key: segment[key] for key in ("clients", "seconds", "requests", "latency_ms", "errors", "error_kinds")}

    def pids(self) -> list[int]:
        """The server's master and its workers."""
        return [self.app.pid, *self.app.worker_pids()]

    def rss_mb(self) -> float:
        """The summed RSS of the master and its workers (a page they share counts in each)."""
        return round(common.rss_bytes(self.pids()) / 2**20, 1)

    def pss_mb(self) -> float:
        """The summed PSS of the master and its workers: what the server holds, each shared page counted once."""
        return round(common.pss_bytes(self.pids()) / 2**20, 1)

    def errors_logged(self) -> int:
        from tests.harness.logs import json_lines

        return sum(1 for r in json_lines(self.app.log_text()) if r.get("level") in ("error", "critical"))


# How the app is served. "asgi-uvicorn": uvicorn's own workers (spawned, each importing the app); "asgi-gunicorn": the
# README's deployment, gunicorn with uvicorn workers forked from a master that loaded the app and the tokenizer
# (config/gunicorn.py); "wsgi-gthread": gunicorn's threaded WSGI workers (config.wsgi), for the JSON endpoints only
# (a streamed reply would hold a thread for its whole length).
STACKS = ("asgi-uvicorn", "asgi-gunicorn", "wsgi-gthread")
GTHREAD_THREADS = 16


def _server(stack: str, env: dict[str, str], **kwargs: Any) -> Any:
    from tests.harness.app_server import AppServer, GunicornServer

    if stack == "asgi-uvicorn":
        return AppServer(env, **kwargs)
    return GunicornServer(env, wsgi_threads=GTHREAD_THREADS if stack == "wsgi-gthread" else 0, **kwargs)


@contextlib.contextmanager
def rig(
    fake: common.FakeModelServer,
    customers: list[common.Customer],
    workers: int,
    log_dir: Path,
    *,
    stack: str = "asgi-gunicorn",
    profile: bool = False,
    env: dict[str, str] | None = None,
):
    with _app_server(fake, workers, log_dir, stack=stack, profile=profile, env=env) as app:
        yield Rig(app, fake, Machine(app, fake), [c.token for c in customers])


def _app_server(
    fake: common.FakeModelServer,
    workers: int,
    log_dir: Path,
    *,
    stack: str,
    profile: bool,
    env: dict[str, str] | None = None,
) -> Any:
    """The app served by `stack`; with `profile`, every process runs bench.profiler.ThreadProfiler into
    `log_dir`/profile."""
    env = common.django_env(OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="bench", **(env or {}))
    for name in ("PATH", "HOME", "PYTHONUNBUFFERED", "DJANGO_SETTINGS_MODULE"):
        env.pop(name)  # AppServer sets these itself
    if profile:
        site = log_dir / "site"
        site.mkdir(parents=True)
        (site / "sitecustomize.py").write_text(common.SITECUSTOMIZE)
        (log_dir / "profile").mkdir()
        env |= {"PYTHONPATH": f"{site}:{common.PROJECT_ROOT}", common.PROFILE_ENV: str(log_dir / "profile")}
    return _server(stack, env, workers=workers, log_dir=log_dir, startup_timeout=60)
