"""The labelled set through the real API: one session per request, as its demo customer; every third request over
Server-Sent Events. Cards are judged by the evaluator's own oracle (evals.oracle), never by the app's checks.

After the pass, each customer rates down the first card they were shown and sends that request again in a new
session: the down-rated item must not come back (counted as a `rated_down` violation if it does).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evals import oracle
from evals.env import Api, Turn

REQUESTS_PATH = Path(__file__).resolve().parent / "requests.jsonl"
# Written by another engineer from the catalog alone: measured, never tuned on (docs/eval.md).
HELDOUT_PATH = Path(__file__).resolve().parent / "heldout.jsonl"
SPLITS = {"labelled": REQUESTS_PATH, "heldout": HELDOUT_PATH}
K = 3


def load_requests(path: Path = REQUESTS_PATH) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


NOTHING_STATED = oracle.Stated()


def judge(
    turn: Turn, rules: oracle.Rules, catalog: Mapping[str, oracle.Item], stated: oracle.Stated = NOTHING_STATED
) -> dict[str, Any]:
    """One turn's cards as the oracle sees them: ranked ids, which are in the catalog, which break which rule of the
    profile, which break what the request stated."""
    ranked, broken, broken_stated = [], [], []
    for card in turn.cards:
        external_id = oracle.card_external_id(card)
        ranked.append(external_id or "")
        rules_broken = oracle.violations(catalog.get(external_id or ""), rules)
        if rules_broken:
            broken.append({"external_id": external_id, "rules": rules_broken})
        if stated_broken := oracle.stated_violations(catalog.get(external_id or ""), stated):
            broken_stated.append({"external_id": external_id, "rules": stated_broken})
    return {
        "ranked": ranked,
        "grounded": sum(1 for external_id in ranked if external_id in catalog),
        "violations": broken,
        "stated_violations": broken_stated,
        "provider": (turn.turn or {}).get("provider"),
        "status": turn.status,
    }


def run(
    api: Api,
    tokens: Mapping[str, str],
    catalog: Mapping[str, oracle.Item],
    *,
    path: Path = REQUESTS_PATH,
    limit: int | None = None,
) -> dict[str, Any]:
    """The requests of `path` (`limit` of them, spread evenly over it, when given) through the API; the rated-down
    pass after those of the project's own set."""
    requests = load_requests(path)
    if limit is not None and limit < len(requests):
        requests = [requests[i * len(requests) // limit] for i in range(limit)]
    clients = {name: api.as_customer(token) for name, token in tokens.items()}
    profiles = {name: client.me() for name, client in clients.items()}
    rules = {name: oracle.Rules.from_profile(profile) for name, profile in profiles.items()}
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    for index, request in enumerate(requests):
        stream = index % 3 == 2
        rows.append(_one(clients[request["customer"]], request, rules[request["customer"]], catalog, stream=stream))

    if path == REQUESTS_PATH:
        rows.extend(_rated_down_pass(clients, profiles, rows, requests, catalog))
    return {"summary": summarize(rows), "seconds": round(time.monotonic() - started, 1), "requests": rows}


def _one(
    client: Api, request: Mapping[str, Any], rules: oracle.Rules, catalog: Mapping[str, oracle.Item], *, stream: bool
) -> dict[str, Any]:
    session_id = client.open_session()
    began = time.monotonic()
    turn = client.send(session_id, request["text"], stream=stream)
    row = {
        "id": request["id"],
        "customer": request["customer"],
        "group": request["group"],
        "stream": stream,
        "acceptable": request["acceptable"],
        "seconds": round(time.monotonic() - began, 3),
        **judge(turn, rules, catalog, oracle.Stated.from_row(request.get("stated"))),
        "card_ids": [card.get("id") for card in turn.cards],
    }
    if turn.error is not None:
        row["error"] = turn.error
    # Each request is judged against the profile as labelled: what it stated must not bind the requests after it
    # through the profile's pending proposals, so the customer declines them (their own act, as in the API).
    row["proposals_declined"] = client.proposals_decline()
    return row


def _rated_down_pass(
    clients: Mapping[str, Api],
    profiles: Mapping[str, Mapping[str, Any]],
    rows: list[dict[str, Any]],
    requests: list[dict[str, Any]],
    catalog: Mapping[str, oracle.Item],
) -> list[dict[str, Any]]:
    by_id = {request["id"]: request for request in requests}
    again = []
    for name, client in clients.items():
        first = next((row for row in rows if row["customer"] == name and row["card_ids"] and row["card_ids"][0]), None)
        if first is None:
            continue
        answered = client.rate(first["card_ids"][0], "down")
        if answered.status != 200:
            continue  # no feedback endpoint (yet): nothing was rated down
        rules = oracle.Rules.from_profile(profiles[name], rated_down=[first["ranked"][0]])
        row = _one(client, by_id[first["id"]], rules, catalog, stream=False)
        row["id"] = f"{first['id']}-after-rating-down"
        row["rated_down"] = first["ranked"][0]
        again.append(row)
    return again


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The metrics over judged rows (what tests/evals/ checks on a hand-made example)."""
    cards = sum(len(row["ranked"]) for row in rows)
    broken = [v for row in rows for v in row["violations"]]
    broken_stated = [v for row in rows for v in row.get("stated_violations", ())]
    ranked_rows = [row for row in rows if row["acceptable"] and not row.get("rated_down")]
    paraphrase_rows = [row for row in ranked_rows if row.get("group") == "paraphrase"]
    empty_rows = [row for row in rows if not row["acceptable"]]
    return {
        "requests": len(rows),
        "over_sse": sum(1 for row in rows if row["stream"]),
        # A streamed send that failed answers 200 and ends with an `error` event: an error all the same.
        "errors": sum(1 for row in rows if row["status"] not in (200, 201) or "error" in row),
        "providers": dict(Counter(str(row["provider"]) for row in rows)),
        "cards": cards,
        "violations": len(broken),
        "violations_by_rule": dict(Counter(rule for v in broken for rule in v["rules"])),
        "stated_requests": sum(1 for row in rows if row.get("group") == "constraint"),
        "stated_violations": len(broken_stated),
        "stated_violations_by_rule": dict(Counter(rule for v in broken_stated for rule in v["rules"])),
        "grounding": round(sum(row["grounded"] for row in rows) / cards, 4) if cards else None,
        "hit_at_3": oracle.mean([oracle.hit_at_k(row["ranked"], row["acceptable"], K) for row in ranked_rows]),
        "ndcg_at_3": oracle.mean([oracle.ndcg_at_k(row["ranked"], row["acceptable"], K) for row in ranked_rows]),
        "ranked_requests": len(ranked_rows),
        "paraphrase_hit_at_3": oracle.mean(
            [oracle.hit_at_k(row["ranked"], row["acceptable"], K) for row in paraphrase_rows]
        ),
        "paraphrase_requests": len(paraphrase_rows),
        "empty_set_requests": len(empty_rows),
        "empty_set_without_cards": sum(1 for row in empty_rows if not row["ranked"]),
        "empty_set_with_cards": sum(1 for row in empty_rows if row["ranked"]),
        "rated_down_checked": sum(1 for row in rows if row.get("rated_down")),
    }


# The figures of a run compared side by side (a model's beside the offline provider's): summary key, label.
COMPARED = (
    ("requests", "requests"),
    ("errors", "errors (a problem, or an error event)"),
    ("cards", "cards"),
    ("violations", "rule violations"),
    ("grounding", "grounding (cards that are catalog items)"),
    ("hit_at_3", "hit@3"),
    ("ndcg_at_3", "nDCG@3"),
    ("empty_set_without_cards", "no cards when nothing is acceptable"),
)


def side_by_side(runs: Mapping[str, Mapping[str, Any]]) -> str:
    """A table of the COMPARED figures of each run (`{label: labelled.run(...)}`), one column per run."""
    lines = [f"{'labelled set':<42}" + "".join(f"{label:>22}" for label in runs)]
    for key, label in COMPARED:
        lines.append(f"{label:<42}" + "".join(f"{run['summary'][key]!s:>22}" for run in runs.values()))
    lines.append(f"{'seconds':<42}" + "".join(f"{run['seconds']!s:>22}" for run in runs.values()))
    return "\n".join(lines)
