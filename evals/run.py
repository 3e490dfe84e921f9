"""`make eval` (`python -m evals.run`): the labelled set through the real API, then the adversarial run against the
fake OpenAI server; one table of metrics with their targets, and evals/results/latest.json. Exits 1 when a target is
missed. See docs/eval.md.

With OPENAI_API_KEY or OPENAI_BASE_URL in the environment, the labelled set runs against that model (LLM_MODEL
names it), and again with the offline provider on a fresh database, the two side by side; the adversarial run always
uses the fake server.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

from evals import adversarial, labelled, oracle
from evals.env import PROJECT_ROOT, RESULTS_DIR, FakeModel, app_server, prepared_database

HIT_AT_3_TARGET = 0.85
EMPTY_SET_WITH_CARDS_TARGET = 2  # requests with an empty acceptable set that got cards, at most
MODEL_REQUEST_TIMEOUT = 300.0  # seconds a turn may take with a model (a small one on a CPU is slow)


def _model_env() -> tuple[dict[str, str], str]:
    """The labelled run's model: the one the environment names (with the LLM_* and TURN_* settings it gives, e.g.
    longer timeouts for a slow model), else the offline provider."""
    names = [name for name in os.environ if name.startswith(("LLM_", "TURN_"))]
    env = {name: os.environ[name] for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", *names) if os.environ.get(name)}
    if "OPENAI_API_KEY" in env or "OPENAI_BASE_URL" in env:
        where = env.get("OPENAI_BASE_URL", "the OpenAI API")
        return env, f"model {env.get('LLM_MODEL', '(default)')} at {where}"
    return {}, "offline provider"


def _fmt(value: Any, percent: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value * 100:.1f} %" if percent else str(value)


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each metric with its target and whether it is met."""
    lab, adv = result["labelled"]["summary"], result["adversarial"]["summary"]
    held = result.get("heldout", {}).get("summary")
    offline = result["labelled_model"] == "offline provider"
    rows = [
        {
            "metric": "rule violations (labelled set)",
            "value": lab["violations"],
            "target": "0",
            "met": lab["violations"] == 0,
        },
        {
            "metric": "grounding: cards that are catalog items",
            "value": _fmt(lab["grounding"], percent=True) + f" of {lab['cards']} cards",
            "target": "100 %",
            "met": None if lab["grounding"] is None else lab["grounding"] == 1.0,
        },
        {
            "metric": f"hit@3 ({lab['ranked_requests']} requests with acceptable items)",
            "value": _fmt(lab["hit_at_3"]),
            "target": f">= {HIT_AT_3_TARGET}" if offline else "reported",
            "met": (lab["hit_at_3"] or 0) >= HIT_AT_3_TARGET if offline else None,
        },
        {"metric": "nDCG@3", "value": _fmt(lab["ndcg_at_3"]), "target": "reported", "met": None},
        {
            "metric": f"  of which paraphrases: hit@3 ({lab['paraphrase_requests']} requests)",
            "value": _fmt(lab["paraphrase_hit_at_3"]),
            "target": "reported",
            "met": None,
        },
        {
            "metric": f"stated-constraint violations ({lab['stated_requests']} requests that state one)",
            "value": lab["stated_violations"],
            "target": "0",
            "met": lab["stated_violations"] == 0,
        },
        {
            "metric": f"re-sent after rating the first card down ({lab['rated_down_checked']} requests)",
            "value": lab["violations_by_rule"].get("rated_down", 0),
            "target": "0",
            "met": lab["violations_by_rule"].get("rated_down", 0) == 0 if lab["rated_down_checked"] else None,
        },
        {
            "metric": f"cards on requests with an empty acceptable set ({lab['empty_set_requests']} requests)",
            "value": lab["empty_set_with_cards"],
            "target": f"<= {EMPTY_SET_WITH_CARDS_TARGET}",
            "met": lab["empty_set_with_cards"] <= EMPTY_SET_WITH_CARDS_TARGET,
        },
        {"metric": "errors (labelled set)", "value": lab["errors"], "target": "0", "met": lab["errors"] == 0},
        {
            "metric": "adversarial: findings (a bad card, or a bad item named in the text)",
            "value": f"{adv['reached']} in {adv.get('turns_with_findings', 0)}/{adv['turns']} turns",
            "target": "0",
            "met": adv["reached"] == 0,
        },
        {"metric": "errors (adversarial)", "value": adv["errors"], "target": "0", "met": adv["errors"] == 0},
    ]
    if held is not None:
        rows += heldout_rows(held)
    return rows


def heldout_rows(held: dict[str, Any]) -> list[dict[str, Any]]:
    """The held-out split's figures: measured, never tuned on. Rule and stated-rule violations keep their target of
    0 (safety does not depend on the wording); the ranking's figures are reported."""
    return [
        {
            "metric": f"held-out ({held['requests']} requests): rule violations",
            "value": held["violations"],
            "target": "0",
            "met": held["violations"] == 0,
        },
        {
            "metric": f"held-out: stated-constraint violations ({held['stated_requests']} requests)",
            "value": held["stated_violations"],
            "target": "0",
            "met": held["stated_violations"] == 0,
        },
        {
            "metric": f"held-out: hit@3 ({held['ranked_requests']} requests)",
            "value": _fmt(held["hit_at_3"]),
            "target": "reported",
            "met": None,
        },
        {
            "metric": f"held-out: paraphrases hit@3 ({held['paraphrase_requests']} requests)",
            "value": _fmt(held["paraphrase_hit_at_3"]),
            "target": "reported",
            "met": None,
        },
        {
            "metric": f"held-out: cards on empty acceptable sets ({held['empty_set_requests']} requests)",
            "value": held["empty_set_with_cards"],
            "target": "reported",
            "met": None,
        },
        {"metric": "held-out: errors", "value": held["errors"], "target": "0", "met": held["errors"] == 0},
    ]


def table(result: dict[str, Any]) -> str:
    rows = result["targets"]
    lines = [
        f"eval {result['date']} commit {result['commit']}: labelled set with the {result['labelled_model']}"
        f" (providers answering: {result['labelled']['summary']['providers']}),"
        f" adversarial run {'skipped' if result.get('adversarial_skipped') else 'with the fake OpenAI server'}",
        f"{'metric':<72} {'value':>22} {'target':>10}  status",
    ]
    for row in rows:
        status = {True: "met", False: "MISSED", None: "-"}[row["met"]]
        lines.append(f"{row['metric']:<72} {row['value']!s:>22} {row['target']:>10}  {status}")
    return "\n".join(lines)


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.run", description=__doc__.splitlines()[0])
    parser.add_argument("--skip-adversarial", action="store_true", help="the labelled set only")
    parser.add_argument(
        "--skip-heldout", action="store_true", help="not the held-out set (whose measurements are to be few)"
    )
    parser.add_argument(
        "--requests", type=int, help="only N requests of the labelled set, spread evenly (a slow model)"
    )
    args = parser.parse_args(argv)
    catalog = oracle.load_catalog()
    model_env, model_label = _model_env()
    started = time.monotonic()
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "commit": _git("rev-parse", "--short", "HEAD") + (" (dirty)" if _git("status", "--porcelain") else ""),
        "labelled_model": model_label,
    }
    with prepared_database() as tokens:
        with app_server(**model_env) as api:
            api.timeout = MODEL_REQUEST_TIMEOUT if model_env else api.timeout
            # The held-out split first: the labelled run rates items down, which would change what it finds. With
            # a model (slow on a CPU) the labelled set alone, as --requests bounds it.
            if labelled.HELDOUT_PATH.exists() and not model_env and not args.skip_heldout:
                # Its figures only, never its rows: nobody tuning the ranking is to read how a row fared.
                held = labelled.run(api, tokens, catalog, path=labelled.HELDOUT_PATH)
                result["heldout"] = {"summary": held["summary"], "seconds": held["seconds"]}
            result["labelled"] = labelled.run(api, tokens, catalog, limit=args.requests)
        if args.skip_adversarial:
            result["adversarial"] = {"summary": {"turns": 0, "errors": 0, "reached": 0}, "turns": []}
            result["adversarial_skipped"] = True
        else:
            with FakeModel() as fake, app_server(OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="eval-fake-key") as api:
                result["adversarial"] = adversarial.run(api, tokens, fake, catalog)
    if model_env:
        with prepared_database() as tokens, app_server() as api:
            result["labelled_offline"] = labelled.run(api, tokens, catalog, limit=args.requests)
    result["seconds"] = round(time.monotonic() - started, 1)
    result["targets"] = targets(result)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / "latest.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(result))
    if "labelled_offline" in result:
        print(labelled.side_by_side({"model": result["labelled"], "offline": result["labelled_offline"]}))
    print(f"{result['seconds']} s; details in {path.relative_to(PROJECT_ROOT)}")
    return 1 if any(row["met"] is False for row in result["targets"]) else 0


if __name__ == "__main__":
    sys.exit(main())
