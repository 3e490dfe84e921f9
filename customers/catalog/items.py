"""One catalog row: the contract's fields, their validation, and the columns derived from them.

Shared by `catalog_import` (every row of a file) and the admin (one edited item), so both refuse the same things.
"""

import re
from collections.abc import Mapping, Sequence
from typing import Any

from customers.catalog import mentions, vocabulary
from customers.models import CATALOG_ITEM_FIELDS, MAX_TAG_LENGTH, MAX_TAGS, CatalogItem, ItemKind

# The file's fields are the model's, `price` for `price_minor` (a file speaks the contract's names).
FIELDS = ("external_id", *("price" if name == "price_minor" else name for name in CATALOG_ITEM_FIELDS))
REQUIRED = ("external_id", "kind", "name")
KINDS: tuple[str, ...] = tuple(ItemKind.values)
FOOD_BY_KIND = {"restaurant": True, "dish": True, "activity": False, "place": False}  # product: required
MAX_NAME = CatalogItem._meta.get_field("name").max_length
MAX_DESCRIPTION = CatalogItem._meta.get_field("description").max_length
MAX_AREA = CatalogItem._meta.get_field("area").max_length
MAX_PRICE = 10**15  # far above any real price, well inside a 64-bit column
_EXTERNAL_ID = re.compile(r"[\x21-\x7e]{1,64}\Z")
_CURRENCY = re.compile(vocabulary.CURRENCY_CODE)


class RowError(ValueError):
    """A row that breaks the contract; `field` names the field at fault (or "row" for its shape)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def validate(row: object) -> dict[str, Any]:
    """The row as model field values (`price` becomes `price_minor`, defaults filled in). Raises RowError."""
    if not isinstance(row, Mapping):
        raise RowError("row", "must be a JSON object")
    for name in row:
        if name not in FIELDS:
            raise RowError(str(name), "unknown field")
    for name in REQUIRED:
        if name not in row:
            raise RowError(name, "missing (required)")

    external_id = row["external_id"]
    if not isinstance(external_id, str) or not _EXTERNAL_ID.match(external_id):
        raise RowError("external_id", "must be 1-64 visible ASCII characters")
    kind = row["kind"]
    if kind not in KINDS:
        raise RowError("kind", f"must be one of {', '.join(KINDS)}")
    name = _text(row, "name", MAX_NAME, required=True)
    description = _text(row, "description", MAX_DESCRIPTION)
    area = _text(row, "area", MAX_AREA)

    price = row.get("price")
    if price is not None and (type(price) is not int or price < 0 or price > MAX_PRICE):
        raise RowError("price", "must be a whole number of minor units, at least 0")
    currency = row.get("currency", "KRW")
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise RowError("currency", "must be an ISO 4217 code such as KRW")

    tags = _strings(row, "tags")
    for tag in tags:
        if not tag.strip():
            raise RowError("tags", "an empty tag")
        if len(tag) > MAX_TAG_LENGTH:
            raise RowError("tags", f"a tag longer than {MAX_TAG_LENGTH} characters")
    if len(tags) > MAX_TAGS:
        raise RowError("tags", f"more than {MAX_TAGS} tags")
    # Absent or null: unknown (no claim either way); [] declares none of the listed allergens.
    allergens = None if row.get("allergens") is None else _codes(row, "allergens", vocabulary.ALLERGENS)
    diets = _codes(row, "diets", vocabulary.DIETS)
    venue = row.get("venue")
    if venue is not None:
        if kind != "dish":
            raise RowError("venue", "only a dish has a venue")
        if not isinstance(venue, str) or not _EXTERNAL_ID.match(venue):
            raise RowError("venue", "must be the external_id of a restaurant")
        if venue == external_id:
            raise RowError("venue", "a dish cannot be its own venue")

    if "food" in row:
        food = row["food"]
        if not isinstance(food, bool):
            raise RowError("food", "must be true or false")
    elif kind in FOOD_BY_KIND:
        food = FOOD_BY_KIND[kind]
    else:
        raise RowError("food", f"missing (required for {kind})")
    active = row.get("active", True)
    if not isinstance(active, bool):
        raise RowError("active", "must be true or false")

    return {
        "external_id": external_id,
        "kind": kind,
        "name": name,
        "description": description,
        "area": area,
        "price_minor": price,
        "currency": currency,
        "tags": list(dict.fromkeys(tag.strip() for tag in tags)),
        "allergens": allergens,
        "diets": diets,
        "food": food,
        "active": active,
        "venue": venue,  # an external_id: the importer resolves it
    }


def derived(
    *,
    name: str,
    kind: str,
    area: str,
    description: str,
    tags: Sequence[str],
    allergens: Sequence[str] | None,
    diets: Sequence[str],
    food: bool,
) -> dict[str, Any]:
    """The columns computed from the fields: the allergens the item's text mentions, the rule bitmasks and the
    searchable keywords.

    `allergen_mask` is every allergen the rules hold the item to contain: the declared ones and the ones its text
    mentions, or every allergen when a food item's are unknown (so a customer with any allergy never meets it, and
    one with none still does: one comparison in SQL, whatever the source of the customer's allergies)."""
    mentioned = text_mentions(name, description, tags)
    unknown = allergens is None and food
    return {
        "mentions": list(mentioned),
        "allergen_mask": ALL_ALLERGENS if unknown else vocabulary.allergen_mask([*(allergens or ()), *mentioned]),
        "diet_mask": vocabulary.diet_mask(diets),
        "keywords": keywords(name, kind, area, tags),
    }


ALL_ALLERGENS = vocabulary.allergen_mask(vocabulary.ALLERGENS)


def text_mentions(name: str, description: str, tags: Sequence[str]) -> tuple[str, ...]:
    """The allergens an item's own text mentions (customers/catalog/mentions.py)."""
    return mentions.mentioned([name, description, *tags])


def undeclared(allergens: Sequence[str] | None, mentioned: Sequence[str]) -> tuple[str, ...]:
    """The allergens an item's text mentions that its list does not declare (all of them when it declares none)."""
    return tuple(code for code in mentioned if code not in (allergens or ()))


def keywords(name: str, kind: str, area: str, tags: Sequence[str]) -> str:
    """Lower-case searchable text: the name, each tag, the area (with its comma and "-gu" split off), the kind, and
    the area as one token (`area_token`), so that a full-text query can ask for an area in the same index scan."""
    area_words = area.replace(",", " ").replace("-gu", " ").replace("-", " ")
    return " ".join([name, *tags, area_words, kind, area_token(area)]).casefold()


def area_token(area: str) -> str:
    """The area as a single full-text lexeme, e.g. "areaseoulmapogu" for "Seoul, Mapo-gu"."""
    return "area" + re.sub(r"[\W_]+", "", area.casefold())


def _text(row: Mapping[str, Any], name: str, limit: int, *, required: bool = False) -> str:
    value = row.get(name, "")
    if not isinstance(value, str):
        raise RowError(name, "must be a string")
    if required and not value.strip():
        raise RowError(name, "must not be blank")
    if len(value) > limit:
        raise RowError(name, f"longer than {limit} characters")
    return value.strip()


def _strings(row: Mapping[str, Any], name: str) -> list[str]:
    value = row.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RowError(name, "must be a list of strings")
    return value


def _codes(row: Mapping[str, Any], name: str, known: tuple[str, ...]) -> list[str]:
    codes = _strings(row, name)
    if bad := vocabulary.unknown(codes, known):
        raise RowError(name, f"unknown code {bad[0]!r}")
    return [code for code in known if code in codes]  # vocabulary order, each once
