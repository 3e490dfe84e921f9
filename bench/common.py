"""What the benchmarks share: the bench database and Redis index, the seeded customers (the cast of tests/people.py),
the environment of a Django process, the fake OpenAI server in a process of its own, statistics, /proc readings and
the results directory.

The bench owns the PostgreSQL database `chatbot_bench` (BENCH_DATABASE_URL) and the Redis index 13 (BENCH_REDIS_URL),
never the developer's index 0 or the tests' 15: `prepared()` creates, migrates and seeds the database and drops it
and flushes the index at the end. `make bench` prepares once for every benchmark (BENCH_PREPARED=1 in their
environment); a benchmark run on its own (`python -m bench.<name>`) prepares for itself.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis

# Re-exported: the benchmarks reach them as common.<name>.
from bench.procfs import (  # noqa: F401
    children_of,
    cpu_seconds,
    cpu_seconds_tree,
    machine_busy_seconds,
    pids_named,
    postmaster_pid,
    pss_bytes,
    rss_bytes,
)
from bench.profiler import PROFILE_ENV, SITECUSTOMIZE, ThreadProfiler, merged_profile  # noqa: F401

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/chatbot_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
SECRET_KEY = "bench-secret-key-for-benchmark-processes-only-0123456789abcdef"
# Far beyond what any benchmark sends, so that admission never refuses a measured turn, nor the cap on a customer's
# open sessions a new session (the load opens hundreds a customer: each client its own, a fresh one every 40 turns).
UNTHROTTLED = {
    "THROTTLE_TURNS_PER_MINUTE": "100000000",
    "THROTTLE_REQUESTS_PER_MINUTE": "0",
    "DAILY_TOKEN_QUOTA": "1000000000000",
    "CHAT_MAX_OPEN_SESSIONS": "100000000",
}
_FORBIDDEN_REDIS_DBS = {0: "the developer's", 15: "the tests'"}


@dataclass(frozen=True, slots=True)
class Customer:
    """A seeded bench customer and the API token to call the API as them."""

    username: str
    customer_id: int
    token: str


# --- the bench database and Redis index ------------------------------------------------------------------


def database_name() -> str:
    return urlsplit(DATABASE_URL).path.lstrip("/")


def redis_db() -> int:
    return int(urlsplit(REDIS_URL).path.lstrip("/") or 0)


def _admin_url() -> str:
    parts = urlsplit(DATABASE_URL)
    return urlunsplit(parts._replace(path="/postgres"))


def _check_targets() -> None:
    if redis_db() in _FORBIDDEN_REDIS_DBS:
        raise SystemExit(f"BENCH_REDIS_URL must not use {_FORBIDDEN_REDIS_DBS[redis_db()]} Redis database")
    if not database_name().startswith("chatbot_bench"):
        raise SystemExit("BENCH_DATABASE_URL must name a database starting with chatbot_bench (it is dropped)")


def _admin(statement: str) -> None:
    """Run a statement on the server's `postgres` database (CREATE and DROP DATABASE need their own connection)."""
    with psycopg.connect(_admin_url(), autocommit=True, connect_timeout=3) as admin:
        admin.execute(statement)


def _database_drop() -> None:
    # WITH (FORCE): server processes the benchmarks could not stop cleanly must not keep the database alive.
    _admin(f'DROP DATABASE IF EXISTS "{database_name()}" WITH (FORCE)')


def django_env(**overrides: str) -> dict[str, str]:
    """The environment of a Django process of the bench: production settings (DEBUG off) on the bench database and
    Redis index, unthrottled, the offline provider unless OPENAI_BASE_URL is given."""
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(Path.home()),
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": SECRET_KEY,
        "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "info",
        **UNTHROTTLED,
    }
    env.update(overrides)
    return env


def manage(*args: str) -> str:
    """Run `manage.py` with the bench's Django environment; its stdout."""
    return _django_process("manage.py", *args)


def _django_process(*args: str) -> str:
    """Run `python <args>` with the bench's Django environment; its stdout."""
    completed = subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT_ROOT,
        env=django_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if completed.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{completed.stderr[-4000:]}")
    return completed.stdout


@contextlib.contextmanager
def prepared() -> Iterator[list[Customer]]:
    """The cast of tests/people.py in a migrated bench database (seeded by bench.seed); created (and dropped, with
    the Redis index flushed, at the end) unless `make bench` did it already (BENCH_PREPARED=1, customers in
    BENCH_CUSTOMERS)."""
    if os.environ.get("BENCH_PREPARED") == "1":
        yield [Customer(**c) for c in json.loads(os.environ["BENCH_CUSTOMERS"])]
        return
    _check_targets()
    _database_drop()
    _admin(f'CREATE DATABASE "{database_name()}"')
    try:
        flush_redis()
        manage("migrate", "--noinput")
        customers = [Customer(**c) for c in json.loads(_django_process("-m", "bench.seed"))]
        _analyze()
        yield customers
    finally:
        flush_redis()
        _database_drop()


def _analyze() -> None:
    """Planner statistics for the seeded tables (the demo catalog above all), as autovacuum would gather them on a
    server where it runs: the turns' catalog queries are planned as in production."""
    with psycopg.connect(DATABASE_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute("ANALYZE")


def prepared_env(customers: Sequence[Customer]) -> dict[str, str]:
    """What tells a benchmark process that the database is ready, and who the customers are."""
    return {"BENCH_PREPARED": "1", "BENCH_CUSTOMERS": json.dumps([asdict(c) for c in customers])}


def flush_redis() -> None:
    """Empty the bench's Redis index (never the developer's or the tests')."""
    if redis_db() in _FORBIDDEN_REDIS_DBS:
        raise SystemExit(f"refusing to flush {_FORBIDDEN_REDIS_DBS[redis_db()]} Redis database")
    with redis.Redis.from_url(REDIS_URL, socket_timeout=5) as client:
        client.flushdb()


def setup_django(**overrides: str) -> None:
    """Configure this process as a bench Django process (see `django_env`) and set Django up."""
    os.environ.update(django_env(**overrides))
    import django

    django.setup()


# --- the fake model server, in a process of its own ------------------------------------------------------


class FakeModelServer:
    """`python -m tests.fakes.openai` in its own process, so that whoever loads the app does not slow it down.
    Its knobs and request log are reached through its control API. With `recommend`, it answers as a grounded model
    (`--recommend`: the structured reply proposing the first two candidates of the request's block)."""

    host = "127.0.0.1"

    def __init__(self, *, recommend: bool = False) -> None:
        self._process: subprocess.Popen | None = None
        self.port = 0
        self.recommend = recommend

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def __enter__(self) -> FakeModelServer:
        command = [sys.executable, "-m", "tests.fakes.openai", "--port", "0", *(["--recommend"] * self.recommend)]
        self._process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()  # "PORT=<n>" once it listens
        if not line.startswith("PORT="):
            self.__exit__(None, None, None)
            raise RuntimeError(f"the fake model server did not start: {line!r}")
        self.port = int(line.removeprefix("PORT="))
        return self

    def __exit__(self, *exc_info: object) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        if process.stdout is not None:
            process.stdout.close()

    def configure(
        self, *, latency: float = 0.0, tokens_per_second: float | None = None, duration: float | None = None
    ) -> None:
        """Set every knob (None clears one) and empty the request log."""
        self._control("POST", "/_fake/reset")
        knobs = {"latency": latency, "stream_tokens_per_second": tokens_per_second, "stream_duration": duration}
        self._control("POST", "/_fake/config", knobs)

    def requests(self) -> list[dict[str, Any]]:
        """The API requests received since the last `configure`."""
        return self._control("GET", "/_fake/requests")

    def _control(self, method: str, path: str, payload: object = None) -> Any:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            body = None if payload is None else json.dumps(payload)
            conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
            if response.status != 200:
                raise RuntimeError(f"fake server control {method} {path}: {response.status} {data[:200]!r}")
            return json.loads(data)
        finally:
            conn.close()


# --- statistics ------------------------------------------------------------------------------------------


def percentile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank percentile `q` (0-100) of already sorted values."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def distribution(values: Iterable[float], *, scale: float = 1000.0, digits: int = 2) -> dict[str, float]:
    """n, median, p95, p99 and max of `values` (seconds, reported as milliseconds by default)."""
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}

    def r(value: float) -> float:
        return round(value * scale, digits)

    return {
        "n": len(ordered),
        "median": r(statistics.median(ordered)),
        "p95": r(percentile(ordered, 95)),
        "p99": r(percentile(ordered, 99)),
        "max": r(ordered[-1]),
    }


# --- the machine and the results -------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """Where the numbers come from: CPU, memory, software versions and the commit."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "")
    meminfo = Path("/proc/meminfo").read_text().split()
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = bool(_git("status", "--porcelain"))
    with redis.Redis.from_url(REDIS_URL, socket_timeout=5) as client:
        redis_version = client.info("server")["redis_version"]
    with psycopg.connect(_admin_url(), connect_timeout=3) as conn:
        postgres_version = conn.execute("SHOW server_version").fetchone()[0]
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "redis": redis_version,
        "postgres": postgres_version,
        "commit": commit,
        "dirty_tree": dirty,
        "load_average": load_average(),
    }


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: how busy the (shared) machine was around a run."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _git(*args: str) -> str:
    completed = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    return completed.stdout.strip()


def write_result(name: str, result: Mapping[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return path
