"""`make bench`: every benchmark, one table, bench/results/latest.json.

Prepares the bench database (`chatbot_bench`: created, migrated, seeded with the cast of tests/people.py and their API
tokens) and Redis index 13 once, runs each benchmark as a process of its own (`python -m bench.<name>`, each writing
bench/results/<name>.json and its output to bench/results/<name>.log), then drops the database and flushes the index.
Targets are compared in one table; a missed target is reported, not fatal: the command fails only when a benchmark
could not run.
"""

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import common

BENCHMARKS = (  # module, time limit in seconds
    ("window", 600),
    ("turn_cost", 180),
    ("stored_size", 180),
    ("stampede", 300),
    ("model_call", 300),
    ("http_load", 900),
    ("catalog", 600),
)


def run_benchmark(name: str, limit: int, env: dict[str, str]) -> dict[str, Any] | None:
    """Run `bench.<name>`; its JSON result, or None when it failed (its output is in bench/results/<name>.log)."""
    log, result_path = common.RESULTS_DIR / f"{name}.log", common.RESULTS_DIR / f"{name}.json"
    result_path.unlink(missing_ok=True)  # a result left by an earlier run must not pass for this one's
    print(f"bench.{name} ...", end=" ", flush=True, file=sys.stderr)
    started = time.monotonic()
    with log.open("w") as out:
        try:
            completed = subprocess.run(
                [sys.executable, "-m", f"bench.{name}"],
                cwd=common.PROJECT_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=limit,
                check=False,
            )
            code = completed.returncode
        except subprocess.TimeoutExpired:
            code = None
    print(f"{time.monotonic() - started:.0f} s", file=sys.stderr)
    # Benchmarks exit 1 on a missed target; anything else (or no result) is a failure to run.
    if code not in (0, 1) or not result_path.exists():
        print(f"  bench.{name} failed (exit {code}); see {log}", file=sys.stderr)
        return None
    return json.loads(result_path.read_text())


# --- the table of targets ----------------------------------------------------------------------------------


Row = tuple[str, str, str, bool | None]  # measure, measured, target, met (None: not measured)


def _rows_window(r: dict[str, Any]) -> list[Row]:
    t = r["targets"]
    largest = r["rows"][-1]
    return [
        (
            "window assembly, 10k msgs vs bounded-tail floor",
            f"{t['10k_vs_bounded_tail_floor']}x ({largest['assembly']['median_ms']:.3f} ms)",
            f"<= {t['limit']}x",
            t["10k_vs_bounded_tail_floor"] <= t["limit"],
        ),
        (
            "window assembly, 10k msgs vs 100 msgs",
            f"{t['10k_vs_100_messages']}x",
            f"<= {t['limit']}x",
            t["10k_vs_100_messages"] <= t["limit"],
        ),
    ]


_TURN_COST_MEASURES = {
    "sql": "SQL statements (Django)",
    "postgres_round_trips": "PostgreSQL round trips",
    "redis_round_trips": "Redis round trips",
    "model_calls": "model calls",
}


def _rows_turn_cost(r: dict[str, Any]) -> list[Row]:
    """A row for every figure bench.turn_cost checks (its `met`), with the warm turn's count and its target."""
    warm, targets = r["warm"], r["targets"]
    rows: list[Row] = []
    for key, met in r["met"].items():
        # PostgreSQL round trips are held against the SQL target unless turn_cost names one of their own.
        target = targets.get(key, targets.get("sql") if key == "postgres_round_trips" else None)
        relation = "==" if key == "model_calls" else "<="
        rows.append(
            (
                f"warm turn: {_TURN_COST_MEASURES.get(key, key.replace('_', ' '))}",
                str(warm.get(key, "-")),
                f"{relation} {target}" if target is not None else "-",
                met,
            )
        )
    return rows


def _rows_stored_size(r: dict[str, Any]) -> list[Row]:
    measured = [row for row in r["rows"] if "refused" not in row]
    worst = max(measured, key=lambda row: row["stored_bytes"] / row["limit_bytes"])
    formats = (
        all(row["json_not_pickle"] and row["content_verbatim_utf8"] for row in measured) and r["cache_entries_json"]
    )
    return [
        (
            "stored bytes per message (worst kind)",
            f"{worst['stored_bytes']:.0f} B for {worst['utf8_bytes']:.0f} B {worst['language']}",
            f"<= {worst['limit_bytes']:.0f} B (1.3x + 150)",
            all(row["within_target"] for row in measured),
        ),
        ("stored as raw UTF-8 JSON, no pickles", "yes" if formats else "no", "yes", formats),
    ]


def _rows_stampede(r: dict[str, Any]) -> list[Row]:
    return [
        (
            f"cold stampede, {r['readers_per_round']} readers: SQL queries",
            f"{r['worst_queries']} (rounds: {', '.join(map(str, r['queries_per_round']))})",
            f"<= {r['target_queries']}",
            r["met"],
        )
    ]


def _rows_model_call(r: dict[str, Any]) -> list[Row]:
    rows = r["rows"]
    return [
        (
            f"model call CPU, {name}: SDK -> transport",
            f"{row['sdk_ms']} -> {row['transport_ms']} ms ({row['ratio']}x)",
            "-",
            None,
        )
        for name, row in rows.items()
    ]


def _rows_http_load(r: dict[str, Any]) -> list[Row]:
    s, met = r["summary"], r["summary"]["met"]
    cards = s["cards_per_turn"]
    rows: list[Row] = [
        (
            f"{stack}: GET /me rps, turns/s, warm PSS",
            f"{row['floor_me_per_second']} rps, {row['turns_per_second']} turns/s, {row['warm_pss_mb']} MB",
            "-",
            None,
        )
        for stack, row in s["stacks"].items()
    ]
    return [
        *rows,
        (f"turns/s, 32 clients, {s['stack']} x {s['workers']}", f"{s['turns_per_second']}", "-", None),
        (
            "turn latency p50 / p95 / p99",
            f"{s['turn_p50_ms']} / {s['turn_p95_ms']} / {s['turn_p99_ms']} ms",
            "p99 < 250 ms",
            met["turn_p99_ms"],
        ),
        ("turn errors", str(s["turn_errors"]), "0", met["turn_errors"]),
        (
            "turns/s vs GET /me rps (same server, same run)",
            f"{s['turns_vs_floor']} ({s['floor_me_per_second']} rps)",
            ">= 0.5",
            met["turns_vs_floor"],
        ),
        (
            "overhead at 500 ms model, 200 clients p50 / p99",
            f"{s['slow_overhead_p50_ms']} / {s['slow_overhead_p99_ms']} ms ({s['slow_turns_per_second']} turns/s)",
            "p99 < 100 ms",
            met["slow_overhead_p99_ms"],
        ),
        *(
            (
                f"{name} deltas (200 streams at 100 tokens/s)",
                f"{c['delta_events_per_stream']} events, {c['app_cpu_ms_per_stream']} ms app CPU a stream",
                "-",
                None,
            )
            for name, c in s["coalescing"].items()
        ),
        (
            "concurrent streams held (p95 1st delta, PSS)",
            f"{s['streams_held']} ({s['stream_first_delta_p95_ms']} ms, {s['stream_pss_mb']} MB"
            f" at {s['stream_step_shown']})",
            ">= 500, < 100 ms, < 400 MB",
            met["streams"],
        ),
        (
            "cards per turn: turns / 500 ms model / streams",
            f"{cards['turns']} / {cards['slow_model']} / {cards['streams']} (fewest {cards['fewest']})",
            ">= 1 in every segment",
            met["cards_per_turn"],
        ),
    ]


def _rows_catalog(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for row in r["rows"]:
        ms = row["candidates_ms"]
        target = row["p95_target_ms"]
        rows.append(
            (
                f"candidates p50 / p95, {row['items']:,} items",
                f"{ms['median']} / {ms['p95']} ms",
                f"p95 < {target:g} ms" if target else "-",
                row["p95_met"],
            )
        )
    largest = r["rows"][-1]
    rows.append(
        (
            f"catalog_import, {largest['import_rows']:,} rows",
            f"{largest['import_rows_per_second']:,} rows/s",
            f">= {r['targets']['import_rows_per_second']:,} rows/s",
            r["import_met"],
        )
    )
    return rows


ROWS: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "window": _rows_window,
    "turn_cost": _rows_turn_cost,
    "stored_size": _rows_stored_size,
    "stampede": _rows_stampede,
    "model_call": _rows_model_call,
    "http_load": _rows_http_load,
    "catalog": _rows_catalog,
}


def table(results: dict[str, dict[str, Any] | None]) -> list[Row]:
    rows: list[Row] = []
    for name, result in results.items():
        if result is None:
            rows.append((f"bench.{name}", "failed to run", "-", None))
        else:
            rows += ROWS[name](result)
    return rows


def print_table(rows: list[Row], machine: dict[str, Any], seconds: float) -> None:
    print(
        f"\nbenchmarks {machine['date']}, commit {machine['commit']}{' (dirty tree)' if machine['dirty_tree'] else ''},"
        f" {machine['nproc']} x {machine['cpu_model']}, {machine['memory_gb']} GB, {seconds / 60:.1f} min,"
        f" load average {machine['load_average']} before"
    )
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    header = f"{'measure':<{widths[0]}} | {'measured':<{widths[1]}} | {'target':<{widths[2]}} | met"
    print(header)
    print("-" * len(header))
    for measure, measured, target, met in rows:
        verdict = "-" if met is None else ("yes" if met else "MISSED")
        print(f"{measure:<{widths[0]}} | {measured:<{widths[1]}} | {target:<{widths[2]}} | {verdict}")


def main() -> int:
    started = time.monotonic()
    common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    with common.prepared() as customers:
        machine = common.machine()
        env = {**os.environ, **common.prepared_env(customers), "BENCH_REDIS_URL": common.REDIS_URL}
        results = {name: run_benchmark(name, limit, env) for name, limit in BENCHMARKS}
    seconds = time.monotonic() - started
    rows = table(results)
    latest = {
        "machine": machine,
        "load_average_after": common.load_average(),
        "seconds": round(seconds, 1),
        "table": [{"measure": m, "measured": v, "target": t, "met": ok} for m, v, t, ok in rows],
        "results": results,
    }
    path = common.write_result("latest", latest)
    print_table(rows, machine, seconds)
    print(f"\nwritten to {path}; each benchmark's own output is in {common.RESULTS_DIR}/<name>.log")
    return 1 if any(r is None for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
