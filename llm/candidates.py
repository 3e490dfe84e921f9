"""The catalog side of a reply prompt: the delimited candidate block (one line per item, its `external_id` first and
verbatim) and the one short line of what the customer rated lately.

Pure functions. Catalog text (names, descriptions, tags) is data: flattened to one line, angle brackets replaced,
cut to a bound, like every other data block of the prompt (llm/prompts.py).
"""

from collections.abc import Sequence

from llm.data import Candidate, TurnContext

MAX_NAME_CHARS = 120
MAX_DESCRIPTION_CHARS = 140
MAX_TAGS = 6
MAX_TASTES = 3  # names per side of the recent-ratings line
MAX_TASTE_CHARS = 60
BLOCK = "candidates"
RATINGS_BLOCK = "recent_ratings"
# A line starts "- item_id: <external_id> | ": external ids are 1-64 visible ASCII characters, never a space.
LINE_PREFIX = "- item_id: "


def candidate_line(candidate: Candidate, *, data, money) -> str:
    """One candidate, for the block: `- item_id: <id> | <name> | <kind> | <area> | <price> | tags: ... | ...`."""
    price = "free" if candidate.price_minor is None else money(candidate.price_minor, candidate.currency)
    parts = [
        f"{LINE_PREFIX}{candidate.external_id}",
        data(candidate.name, MAX_NAME_CHARS),
        candidate.kind,
        data(candidate.area) or "anywhere",
        price,
    ]
    if candidate.tags:
        parts.append("tags: " + ", ".join(filter(None, (data(tag, 40) for tag in candidate.tags[:MAX_TAGS]))))
    if candidate.food:
        parts.append("diets: " + (", ".join(candidate.diets) or "none"))
        parts.append(allergens_part(candidate))
    if candidate.description.strip():
        parts.append(data(candidate.description, MAX_DESCRIPTION_CHARS))
    return " | ".join(parts)


def allergens_part(candidate: Candidate) -> str:
    """What a food candidate's line says of its allergens: declared and mentioned by its text, or not declared."""
    if candidate.allergens is None:
        return ALLERGENS_NOT_DECLARED
    contains = dict.fromkeys((*candidate.allergens, *candidate.mentions))
    return "contains: " + (", ".join(contains) or "no listed allergen")


ALLERGENS_NOT_DECLARED = "allergens not declared"


def empty_block_line(context: TurnContext, rules: str) -> str:
    """What the block says when it offers nothing: the customer asked for nothing (recommend nothing, just answer),
    or nothing from the catalog fits (say so, naming the `rules` in force, never an item)."""
    if not context.asks:
        return "(none: the customer asked for nothing this turn; recommend nothing and just answer them)"
    return (
        "(none: no catalog item fits this request and the customer's rules; recommend nothing, say plainly that "
        f"nothing fits and which of these rules ruled it out, naming no item: {rules})"
    )


def tastes_line(context: TurnContext, *, data) -> str:
    """`Liked lately: A; B. Disliked lately (never again): C.`, bounded; "" when they rated nothing."""
    parts = []
    if liked := _names(context.liked, data):
        parts.append(f"Liked lately: {liked}.")
    if disliked := _names(context.disliked, data):
        parts.append(f"Disliked lately (never recommend again): {disliked}.")
    return " ".join(parts)


def _names(names: Sequence[str], data) -> str:
    return "; ".join(filter(None, (data(name, MAX_TASTE_CHARS) for name in names[:MAX_TASTES])))
