"""The tables bench.http_load prints of a run's result (bench/results/http_load.json)."""

from __future__ import annotations

from typing import Any

from bench.http_load import FAST_RATE, FAST_SECONDS, FAST_STREAMS, STREAM_RATE, TARGETS
from bench.load_client import STREAM_SECONDS


def _ms(distribution: dict[str, float], key: str) -> str:
    value = distribution.get(key)
    return f"{value:.1f}ms" if value is not None else "-"


def print_table(result: dict[str, Any]) -> None:
    print(f"HTTP load (production settings, {result['workers']} workers), fake model server in its own process")
    print(
        f"{'stack':>13} | {'floor /me rps':>13} | {'turns/s':>7} {'p50':>8} {'p95':>8} {'p99':>8} {'err':>4} | cards"
        f" | ratio | warm PSS  RSS"
    )
    for stack, row in result["turns"].items():
        t, mem = row["turns"], row["memory_warm_mb"]
        lat = t["latency_ms"]
        print(
            f"{stack:>13} | {row['floor_me']['per_second']:>13.1f} | {t['per_second']:>7.1f} {_ms(lat, 'median'):>8}"
            f" {_ms(lat, 'p95'):>8} {_ms(lat, 'p99'):>8} {t['errors']:>4} | {t['cards_per_turn']:>5}"
            f" | {row['turns_vs_floor']:.2f}  | {mem['pss']:>6.1f} {mem['rss']:>6.1f} MB"
        )
    slow = result["slow_model"]
    for name in ("clients_200", "clients_32"):
        s = slow[name]
        print(
            f"500 ms model, {s['clients']} clients, {slow['stack']}: {s['per_second']:.1f} turns/s, overhead"
            f" p50 {_ms(s['overhead_ms'], 'median')} p99 {_ms(s['overhead_ms'], 'p99')}, errors {s['errors']},"
            f" {s['cards_per_turn']} cards a turn"
        )
    config = result["streams"]
    print(
        f"streams on {config['stack']} ({STREAM_RATE:.0f} tokens/s for {STREAM_SECONDS:.0f} s); first delta after the"
        f" model's first token; memory idle PSS {config['memory_idle_mb']['pss']} MB, warm"
        f" {config['memory_warm_mb']['pss']} MB (RSS {config['memory_warm_mb']['rss']} MB)"
    )
    print(
        f"{'streams':>11} | {'done':>5} | {'p50':>8} {'p95':>8} {'floor p95':>9} | {'PSS':>8} {'RSS':>8} | cards | held"
    )
    for s in config["steps"]:
        lag, floor = s["first_delta_after_model_ms"], s["floor_first_token_lag_ms"]
        label = f"{s['streams']}{' first' if s['first_turns'] else ''}"
        print(
            f"{label:>11} | {s['completed']:>5} | {_ms(lag, 'median'):>8} {_ms(lag, 'p95'):>8}"
            f" {_ms(floor, 'p95'):>9} | {s['pss_mb_peak']:>6.1f}MB {s['rss_mb_peak']:>6.1f}MB"
            f" | {s['cards_per_turn']:>5} | {'yes' if s['held'] else 'no'}"
        )
    cards = result["summary"]["cards_per_turn"]
    print(
        f"cards per turn: {cards['turns']} (turns), {cards['slow_model']} (500 ms model), {cards['streams']}"
        f" (streams); fewest in any segment {cards['fewest']} (target >= {TARGETS['cards_per_turn']})"
    )


def print_coalescing(result: dict[str, Any]) -> None:
    print(f"{FAST_STREAMS} streams at {FAST_RATE:.0f} tokens/s for {FAST_SECONDS:.0f} s, SSE_COALESCE_MS 0 vs default:")
    for name, step in result["coalescing"].items():
        lag = step["first_delta_after_model_ms"]
        print(
            f"  {name:>9}: {step['delta_events_per_stream']:>6.1f} delta events a stream, app CPU"
            f" {step['app_cpu_ms_per_stream']:.1f} ms a stream, first delta p95 {_ms(lag, 'p95')},"
            f" done {step['completed']}/{step['streams']}"
        )
