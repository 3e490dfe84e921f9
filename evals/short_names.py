"""How long a name variant must be for the text guard to look for it, measured on the demo catalog
(`python -m evals.short_names`; docs/decisions/0032-text-guard-normalised-names.md holds the figures).

For each rule (the fewest characters of a name or its part before a parenthesis; of the part in a parenthesis):
- missed: the demo food items whose name as a reply writes it in their own language (the name without the part in a
  parenthesis, which holds the translation) is not looked for, so that a reply may name them when they must be
  avoided;
- false hits: in ordinary text (every demo item's description, written about that item, and every request of the
  labelled set, evals/requests.jsonl), the variants of another item that the guard would find, leaving a sentence
  out. A variant inside the text's own item's name is not counted: that item is the card, and a kept card's name is
  never avoided.

The variants are `llm.grounding.avoid_names`'s own, with its two minimums set to each rule in turn.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from llm import grounding
from llm.data import CustomerFacts, TurnContext
from llm.text_guard import fold

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "customers" / "demo_data" / "catalog.jsonl"
REQUESTS = ROOT / "evals" / "requests.jsonl"
RULES = ((3, 3), (2, 2), (2, 3), (1, 3))  # (name, note): before issue 25, every variant from 3 characters
_FOOD_KINDS = {"restaurant", "dish"}
_FACTS = CustomerFacts(
    display_name="",
    birth_year=None,
    home_area="",
    preferred_language="en",
    currency="KRW",
    monthly_limit_minor=0,
    remaining_limit_minor=0,
    preferences=(),
    allergies=(),
)
_CONTEXT = TurnContext(customer_id=0, customer=_FACTS, past_summaries=())


@contextmanager
def _rule(name_chars: int, note_chars: int) -> Iterator[None]:
    saved = grounding.MIN_NAME_CHARS, grounding.MIN_NOTE_CHARS
    grounding.MIN_NAME_CHARS, grounding.MIN_NOTE_CHARS = name_chars, note_chars
    try:
        yield
    finally:
        grounding.MIN_NAME_CHARS, grounding.MIN_NOTE_CHARS = saved


def _variants(name: str) -> tuple[str, ...]:
    return grounding.avoid_names(replace(_CONTEXT, avoid_names=(name,)), ())


def measure(name_chars: int, note_chars: int) -> dict[str, object]:
    """The figures of one rule: `missed` (names) and `false_hits` ((variant, whose text), sorted)."""
    items = [json.loads(line) for line in CATALOG.read_text(encoding="utf-8").splitlines() if line.strip()]
    requests = [json.loads(line) for line in REQUESTS.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [(item["external_id"], fold(item["name"]), fold(item.get("description", ""))) for item in items]
    texts += [(f"request {request['id']}", "", fold(request["text"])) for request in requests]
    missed: list[str] = []
    hits: set[tuple[str, str]] = set()
    with _rule(name_chars, note_chars):
        for item in items:
            variants = _variants(item["name"])
            own = fold(grounding._PAREN.sub(" ", item["name"]))
            if item.get("food", item["kind"] in _FOOD_KINDS) and own not in variants:
                missed.append(own)
            for ident, own_name, text in texts:
                if ident == item["external_id"]:
                    continue
                hits.update((v, ident) for v in variants if v in text and v not in own_name)
    return {"missed": sorted(missed), "false_hits": sorted(hits)}


def main() -> None:
    print("name, note: missed food items | false hits in ordinary text")
    for name_chars, note_chars in RULES:
        figures = measure(name_chars, note_chars)
        short = [hit for hit in figures["false_hits"] if len(hit[0]) < 4]
        print(
            f"{name_chars}, {note_chars}: {len(figures['missed'])} {figures['missed']} | "
            f"{len(figures['false_hits'])} (of which under 4 characters: {short})"
        )


if __name__ == "__main__":
    main()
