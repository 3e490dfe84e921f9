"""A cold-cache stampede: 200 concurrent first reads of one customer's profile, and the SQL they cause.

Each round drops every cached entry of the customer (customers.services.customer_cache_drop), then 4 worker
processes of 50 threads each call customers.services.customer_profile_get at the same instant (a wall-clock start
time agreed in advance, after a barrier in each process). Every thread counts the SQL statements its connection
executes with a connection.execute_wrapper, so the sum over the processes is the number of loader queries the
stampede caused. Target: 1 per round (one loader holds the fill lease, the others wait for its entry).

pg_stat_statements would count the same on the server side, but it needs shared_preload_libraries and a restart of
PostgreSQL, which a benchmark should not do to a shared server: the wrapper counts instead.

Run alone with `.venv/bin/python -m bench.stampede`; it writes bench/results/stampede.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

from bench import common

ROUNDS = 5
PROCESSES = 4
THREADS = 50
START_DELAY_SECONDS = 3.0  # time for the workers to import Django, warm up and reach their barrier
TARGET_QUERIES = 1


def worker(customer_id: int, threads: int, start_at: float) -> dict[str, Any]:
    """One process of the stampede: `threads` threads reading the customer's context at `start_at` (wall clock)."""
    common.setup_django(LOG_LEVEL="warning")
    from django.core.cache import cache
    from django.db import connection, connections

    from customers import services

    # A running server has its database pool open and its Redis connections made: so does this process, outside
    # the counted reads, so that the stampede measures the cache and not the start of a process.
    connection.ensure_connection()
    connections.close_all()

    lock = threading.Lock()
    statements: list[str] = []
    latencies: list[float] = []
    errors: list[str] = []
    barrier = threading.Barrier(threads)

    def count(execute, sql, params, many, context):
        with lock:
            statements.append(sql)
        return execute(sql, params, many, context)

    def read() -> None:
        cache.get("bench:warm-up")
        barrier.wait()
        time.sleep(max(0.0, start_at - time.time()))
        started = time.perf_counter()
        try:
            with connection.execute_wrapper(count):
                services.customer_profile_get(customer_id=customer_id)
        except Exception as exc:  # reported, never hidden: a failed read is a failed benchmark
            errors.append(type(exc).__name__)
        finally:
            latencies.append(time.perf_counter() - started)
            connections.close_all()

    ready_at = time.time()
    pool = [threading.Thread(target=read) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return {"statements": statements, "latencies": latencies, "errors": errors, "late": ready_at > start_at}


def stampede_round(customer_id: int, env: dict[str, str]) -> dict[str, Any]:
    start_at = time.time() + START_DELAY_SECONDS
    command = [sys.executable, "-m", "bench.stampede", "--worker", str(customer_id), str(THREADS), repr(start_at)]
    processes = [
        subprocess.Popen(command, cwd=common.PROJECT_ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(PROCESSES)
    ]
    reports = []
    for process in processes:
        out, _ = process.communicate(timeout=60)
        if process.returncode:
            raise RuntimeError(f"a stampede worker failed with exit code {process.returncode}")
        reports.append(json.loads(out))
    statements = [s for r in reports for s in r["statements"]]
    return {
        "readers": sum(len(r["latencies"]) for r in reports),
        "queries": len(statements),
        "statements": statements,
        "errors": sum(len(r["errors"]) for r in reports),
        "late_workers": sum(r["late"] for r in reports),
        "latency_ms": common.distribution(t for r in reports for t in r["latencies"]),
    }


def run(customers: list[common.Customer]) -> dict[str, Any]:
    common.setup_django(LOG_LEVEL="warning")
    from customers import services

    customer_id = customers[0].customer_id
    env = {**os.environ, **common.django_env(LOG_LEVEL="warning")}
    rounds = []
    for _ in range(ROUNDS):
        services.customer_cache_drop(customer_id=customer_id)
        rounds.append(stampede_round(customer_id, env))
    worst = max(r["queries"] for r in rounds)
    return {
        "readers_per_round": PROCESSES * THREADS,
        "processes": PROCESSES,
        "threads_per_process": THREADS,
        "rounds": rounds,
        "queries_per_round": [r["queries"] for r in rounds],
        "worst_queries": worst,
        "target_queries": TARGET_QUERIES,
        "met": worst <= TARGET_QUERIES and all(r["errors"] == 0 and r["late_workers"] == 0 for r in rounds),
    }


def print_table(result: dict[str, Any]) -> None:
    print(
        f"cold-cache stampede: {result['readers_per_round']} concurrent first reads of one customer's context"
        f" ({result['processes']} processes x {result['threads_per_process']} threads),"
        f" target {result['target_queries']} SQL query per round"
    )
    print(f"{'round':>5} | {'queries':>7} {'errors':>6} {'late':>4} | {'read median':>11} {'p99':>8} {'max':>8}")
    for i, r in enumerate(result["rounds"], start=1):
        lat = r["latency_ms"]
        print(
            f"{i:>5} | {r['queries']:>7} {r['errors']:>6} {r['late_workers']:>4} |"
            f" {lat['median']:>9.1f}ms {lat['p99']:>6.1f}ms {lat['max']:>6.1f}ms"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stampede", description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=3, metavar=("CUSTOMER_ID", "THREADS", "START_AT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        customer_id, threads, start_at = args.worker
        print(json.dumps(worker(int(customer_id), int(threads), float(start_at))))
        return 0
    with common.prepared() as customers:
        result = run(customers)
    path = common.write_result("stampede", result)
    print_table(result)
    print(f"written to {path}")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
