"""The evaluator's own view of the rules and its metrics, computed from the catalog file and the customer's profile as
`GET /api/v1/me` shows it: independent of the app's check code, so that a bug there shows up here.

Pure functions only (no database, no HTTP): tests/evals/ checks them on hand-made examples.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

CATALOG_PATH = Path(__file__).resolve().parent.parent / "customers" / "demo_data" / "catalog.jsonl"
# Whether diet rules apply when a row does not say (the contract: product rows must say).
FOOD_BY_KIND = {"restaurant": True, "dish": True, "activity": False, "place": False}
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9:_.\-]*[A-Za-z0-9]|[A-Za-z0-9]")


# The allergens an item's own text may mention, the evaluator's own list (the app reads its vocabulary): English
# words match whole (or with a plural "s"), Korean ones inside a word. The text binds whatever the list declares.
TEXT_ALLERGENS: dict[str, tuple[str, ...]] = {
    "peanut": ("peanut", "groundnut", "땅콩", "피넛"),
    "tree_nut": ("almond", "walnut", "cashew", "pistachio", "hazelnut", "pecan", "아몬드", "호두", "피스타치오",
                 "견과"),
    "milk": ("milk", "cheese", "butter", "cream", "dairy", "우유", "치즈", "버터", "유제품"),
    "egg": ("egg", "계란", "달걀"),
    "wheat": ("wheat", "flour", "밀가루", "글루텐"),
    "buckwheat": ("buckwheat", "soba", "메밀"),
    "soy": ("soy", "tofu", "soybean", "두부", "대두", "된장"),
    "fish": ("fish", "salmon", "tuna", "anchovy", "생선", "연어", "참치", "고등어", "멸치"),
    "crustacean": ("shrimp", "prawn", "crab", "lobster", "shellfish", "seafood", "새우", "꽃게", "대게", "해산물"),
    "mollusc": ("clam", "oyster", "squid", "octopus", "shellfish", "seafood", "조개", "오징어", "문어", "낙지",
                "쭈꾸미", "해산물"),
    "sesame": ("sesame", "참깨", "참기름"),
    "pork": ("pork", "돼지", "삼겹살"),
    "beef": ("beef", "소고기", "한우"),
    "chicken": ("chicken", "닭"),
    "peach": ("peach", "복숭아"),
}  # fmt: skip
# Phrases read before the words: a diet or a drink that names an allergen it lacks, a compound that names another.
TEXT_PHRASES = {
    "gluten free": "",
    "gluten-free": "",
    "글루텐프리": "",
    "글루텐 프리": "",
    "oat milk": "",
    "오트밀크": "",
    "coconut milk": "",
    "코코넛밀크": "",
    "peanut butter": "peanut",
    "땅콩버터": "땅콩",
    "soy-milk": "soy",
    "soy milk": "soy",
    "rice-flour": "",
    "rice flour": "",
}
_ASCII_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True, slots=True)
class Item:
    external_id: str
    kind: str
    name: str
    area: str
    price: int | None
    currency: str
    allergens: frozenset[str] | None  # None: not declared (unknown, never "free of")
    diets: frozenset[str]
    food: bool
    active: bool
    tags: frozenset[str] = frozenset()
    text: str = ""  # name, description and tags, lower case
    venue: str | None = None  # a dish's restaurant
    dishes: tuple[Item, ...] = ()  # a restaurant's dishes (`load_catalog` links them)


@dataclass(frozen=True, slots=True)
class Stated:
    """What a labelled request states (its `stated` field): the rules a card must also respect for that request."""

    allergens: frozenset[str] = frozenset()
    diets: frozenset[str] = frozenset()
    max_price: int | None = None
    exclude_tags: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()

    @classmethod
    def from_row(cls, stated: Mapping[str, Any] | None) -> Stated:
        stated = stated or {}
        return cls(
            allergens=frozenset(stated.get("allergens") or ()),
            diets=frozenset(stated.get("diets") or ()),
            max_price=stated.get("max_price"),
            exclude_tags=frozenset(tag.casefold() for tag in stated.get("exclude_tags") or ()),
            kinds=frozenset(stated.get("kinds") or ()),
        )


@dataclass(frozen=True, slots=True)
class Rules:
    """What a card must respect for one customer: their profile's codes and remaining limit, and what they rated
    down (as the evaluator itself rated it)."""

    allergies: frozenset[str]
    diets: frozenset[str]
    remaining: int
    currency: str
    rated_down: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_profile(cls, profile: Mapping[str, Any], rated_down: Iterable[str] = ()) -> Rules:
        return cls(
            allergies=frozenset(profile.get("allergies") or ()),
            diets=frozenset(profile.get("diets") or ()),
            remaining=int(profile["remaining_limit_minor"]),
            currency=str(profile.get("currency") or "KRW"),
            rated_down=frozenset(rated_down),
        )


def item_from_row(row: Mapping[str, Any]) -> Item:
    kind = row["kind"]
    return Item(
        external_id=row["external_id"],
        kind=kind,
        name=row["name"],
        area=row.get("area", ""),
        price=row.get("price"),
        currency=row.get("currency", "KRW"),
        allergens=None if row.get("allergens") is None else frozenset(row["allergens"]),
        diets=frozenset(row.get("diets") or ()),
        food=bool(row["food"]) if "food" in row else FOOD_BY_KIND.get(kind, True),
        active=bool(row.get("active", True)),
        tags=frozenset(tag.casefold() for tag in row.get("tags") or ()),
        text=" ".join([row["name"], row.get("description", ""), *row.get("tags", ())]).casefold(),
        venue=row.get("venue"),
    )


def link_dishes(items: Iterable[Item]) -> dict[str, Item]:
    """The items by external_id, each restaurant with its dishes (the items naming it as their venue)."""
    by_id = {item.external_id: item for item in items}
    dishes: dict[str, list[Item]] = {}
    for item in by_id.values():
        if item.venue is not None:
            dishes.setdefault(item.venue, []).append(item)
    return {i: replace(item, dishes=tuple(dishes.get(i, ()))) for i, item in by_id.items()}


def load_catalog(path: Path = CATALOG_PATH) -> dict[str, Item]:
    """The catalog file (JSON Lines or a JSON array), by external_id, restaurants with their dishes."""
    text = path.read_text(encoding="utf-8").strip()
    rows = json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines() if line]
    return link_dishes(map(item_from_row, rows))


def mentioned(text: str) -> frozenset[str]:
    """The allergen codes that a lower-case text mentions, by TEXT_PHRASES and TEXT_ALLERGENS."""
    for phrase, meaning in TEXT_PHRASES.items():
        text = text.replace(phrase, meaning)
    words = set(_ASCII_WORD.findall(text))
    words |= {word[:-1] for word in words if word.endswith("s")}
    return frozenset(
        code
        for code, terms in TEXT_ALLERGENS.items()
        if any((term in words) if term.isascii() else (term in text) for term in terms)
    )


def violations(item: Item | None, rules: Rules) -> list[str]:
    """Every rule the item breaks for this customer (empty: the item may reach them). None: not in the catalog."""
    if item is None:
        return ["unknown"]
    broken = []
    if not item.active:
        broken.append("inactive")
    if item.allergens is None and item.food and rules.allergies:
        broken.append("allergens_unknown")
    if (item.allergens or frozenset()) & rules.allergies:
        broken.append("allergen")
    if mentioned(item.text) & rules.allergies:
        broken.append("allergen_in_text")
    if item.food and not rules.diets <= item.diets:
        broken.append("diet")
    if item.price is not None and (item.currency != rules.currency or item.price > rules.remaining):
        broken.append("budget")
    if item.external_id in rules.rated_down:
        broken.append("rated_down")
    active_dishes = [dish for dish in item.dishes if dish.active]
    if active_dishes and all(violations(dish, rules) for dish in active_dishes):
        broken.append("no_dish_fits")  # a restaurant is judged by its dishes too
    return broken


def stated_violations(item: Item | None, stated: Stated) -> list[str]:
    """Every rule the request stated that the item breaks (as its catalog row declares it)."""
    if item is None:
        return []
    broken = []
    if stated.allergens and item.allergens is None and item.food:
        broken.append("stated_allergens_unknown")
    if ((item.allergens or frozenset()) | mentioned(item.text)) & stated.allergens:
        broken.append("stated_allergen")
    if item.food and not stated.diets <= item.diets:
        broken.append("stated_diet")
    if stated.max_price is not None and item.price is not None and item.price > stated.max_price:
        broken.append("stated_price")
    if item.tags & stated.exclude_tags:
        broken.append("stated_tag")
    if stated.kinds and item.kind not in stated.kinds:
        broken.append("stated_kind")
    active_dishes = [dish for dish in item.dishes if dish.active]
    unkinded = replace(stated, kinds=frozenset())  # a restaurant is served by its dishes, whatever kind was asked
    if active_dishes and all(stated_violations(dish, unkinded) for dish in active_dishes):
        broken.append("stated_no_dish_fits")
    return broken


def card_external_id(card: Mapping[str, Any]) -> str | None:
    item = card.get("item")
    return item.get("external_id") if isinstance(item, Mapping) else None


def offered_ids(prompt_text: str, catalog: Mapping[str, Item]) -> set[str]:
    """The catalog ids that appear, as whole tokens, in a prompt (what the model was offered in a turn)."""
    return {token for token in _TOKEN.findall(prompt_text) if token in catalog}


def names_of(item: Item) -> list[str]:
    """The ways a text may name an item: its full name, and each part of "한국어 (English)" of at least 3 characters."""
    found = [item.name]
    head, _, tail = item.name.partition(" (")
    for part in (head, tail.rstrip(")")):
        part = part.strip().strip("'\"")
        if len(part) >= 3 and part not in found:
            found.append(part)
    return found


def leaks(text: str, needles: Iterable[str]) -> list[str]:
    """The needles (names, ids) that appear in the text, case-insensitively."""
    folded = text.casefold()
    return sorted({needle for needle in needles if needle and needle.casefold() in folded})


# --- ranking metrics ---------------------------------------------------------------------------------------


def hit_at_k(ranked: Sequence[str], acceptable: Iterable[str], k: int = 3) -> float:
    """1.0 when one of the first k ranked ids is acceptable, else 0.0."""
    wanted = set(acceptable)
    return 1.0 if any(item in wanted for item in ranked[:k]) else 0.0


def ndcg_at_k(ranked: Sequence[str], acceptable: Iterable[str], k: int = 3) -> float:
    """Binary-relevance nDCG@k: DCG of the first k ranked ids (a repeated id counts once) over the ideal DCG."""
    wanted = set(acceptable)
    if not wanted:
        return 0.0
    seen: set[str] = set()
    dcg = 0.0
    for rank, item in enumerate(ranked[:k]):
        if item in wanted and item not in seen:
            dcg += 1.0 / math.log2(rank + 2)
        seen.add(item)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(k, len(wanted))))
    return dcg / ideal


def mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None
