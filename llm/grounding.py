"""What reaches the customer of a reply, decided in code: the model's proposed cards checked against the turn's
candidates and the customer's rules, and the reply text kept from naming anything it must not.

A `Grounder` serves one reply. The reader of the structured reply hands it the members before "reply"
(`settle`), so the cards are decided, and the names the text must not carry known, before the first delta; then
every piece of the reply text passes through `feed`, and `finish` gives what is left, with the repair.

The checks, in order, for each proposal (a dropped one is logged with its reason code and position, never its
content, and counted in `DROPPED`):

    malformed    the `recommendations` field is not a list of {item_id, reason} objects (then every one)
    over_max     beyond RECOMMENDATIONS_MAX kept cards
    duplicate    an item already kept in this reply
    not_offered  not in this turn's candidate block (unknown ids included: the block is what exists, active, now)
    allergen     the item contains one of the customer's allergens
    diet         a food item that misses one of the customer's diets
    budget       priced in another currency, or above the remaining monthly limit
    rated_down   the customer rated it down

A reason is model text shown on the card: markup (tags, links, code, emphasis) is stripped, and a reason that
carries instructions, or names an item the text must not name, is replaced by a neutral one.

The text: the names to avoid are those of the items near this turn's request that this customer may not be shown
(`TurnContext.avoid_names`: the caller fills it with the items the turn's catalog search met that fail the
customer's rules, a bounded list, not every such item of the catalog), of the ones they disliked, and of the
proposals dropped here, each by the variants `avoid_names` gives. So a name far from the turn's request and never
shown to the model is not looked for in the text; the cards are checked here whatever the text says. With any to
avoid, the text passes through a `TextGuard` (llm/text_guard.py): released as it streams except a tail that may
still become a name, a name's passage through the end of its sentence left out. The reply then ends, on a new
paragraph, with a sentence built from the kept cards (no second model call). A proposal of an item that was not
offered (an invented id, a real item this turn did not offer) or a malformed one has no name the code knows, so
nothing can tell whether the text names it: then none of the model's text is released, and the reply is the
sentence built from the kept cards alone.
"""

import logging
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any
from uuid import uuid4

from llm.data import Candidate, Card, CardItem, Checks, TurnContext
from llm.text_guard import TextGuard

log = logging.getLogger(__name__)

DROPPED: Counter[str] = Counter()  # dropped proposals of this process, by reason code (for metrics)
MAX_REASON_CHARS = 200
MIN_NAME_CHARS = 3  # shorter names (or parts of names) are not looked for in the text: too many false hits

_TAG = re.compile(r"<[^>]*>?")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_URL = re.compile(r"(?:https?|ftp|javascript|data):\S*", re.IGNORECASE)
_EMPHASIS = re.compile(r"[`*_#>|~]+|\\")
_INSTRUCTION = re.compile(
    r"ignore\b|disregard|instruction|system prompt|you are now|you must|jailbreak|override|assistant:|system:|"
    r"developer|new rules|forget (?:all|every|the)|지시|무시|명령|프롬프트",
    re.IGNORECASE,
)
_PAREN = re.compile(r"\s*\(([^)]*)\)\s*")


def check(context: TurnContext, proposals: object, *, max_cards: int) -> tuple[tuple[Card, ...], tuple[str, ...]]:
    """The cards of `proposals` (the structured reply's `recommendations`, as parsed) that pass every check, in
    order, and the names of the offered items that were proposed and dropped."""
    offered = {candidate.external_id: candidate for candidate in context.candidates}
    counts: Counter[str] = Counter()
    cards: list[Card] = []
    dropped_names: list[str] = []
    if proposals is None:
        proposals = []  # a plain-text answer, or no field: no cards
    if not isinstance(proposals, list):
        counts["malformed"] += 1
        log.info("recommendation dropped", extra={"reason": "malformed", "position": None})
        proposals = []
    kept_ids: set[str] = set()
    for position, proposal in enumerate(proposals):
        item_id, reason = _proposal(proposal)
        candidate = offered.get(item_id) if item_id is not None else None
        code = _verdict(context, candidate, item_id, kept_ids, len(cards), max_cards)
        if code:
            counts[code] += 1
            log.info("recommendation dropped", extra={"reason": code, "position": position})
            if candidate is not None and item_id not in kept_ids:
                dropped_names.append(candidate.name)
            continue
        kept_ids.add(item_id)
        cards.append(_card(context, candidate, reason))
    DROPPED.update(counts)
    if counts or cards:
        log.info(
            "recommendations checked",
            extra={"kept": len(cards), "dropped": sum(counts.values()), "dropped_by_reason": dict(counts)},
        )
    return tuple(cards), tuple(dropped_names)


def _proposal(proposal: object) -> tuple[str | None, str]:
    if not isinstance(proposal, dict):
        return None, ""
    item_id, reason = proposal.get("item_id"), proposal.get("reason", "")
    return (item_id if isinstance(item_id, str) else None), (reason if isinstance(reason, str) else "")


def _verdict(
    context: TurnContext, candidate: Candidate | None, item_id: str | None, kept: set[str], cards: int, most: int
) -> str:
    """The reason code to drop a proposal for, or "" to keep it."""
    facts = context.customer
    if item_id is None:
        return "malformed"
    if cards >= most:
        return "over_max"
    if item_id in kept:
        return "duplicate"
    if candidate is None:
        return "not_offered"
    if set(candidate.allergens) & set(facts.allergies):
        return "allergen"
    if candidate.food and not set(facts.diets) <= set(candidate.diets):
        return "diet"
    if candidate.price_minor is not None and (
        candidate.currency != facts.currency or candidate.price_minor > max(facts.remaining_limit_minor, 0)
    ):
        return "budget"
    if _fold(candidate.name) in {_fold(name) for name in context.disliked}:
        return "rated_down"
    return ""


def _card(context: TurnContext, candidate: Candidate, reason: str) -> Card:
    facts = context.customer
    return Card(
        id=str(uuid4()),
        item=CardItem(
            external_id=candidate.external_id,
            kind=candidate.kind,
            name=candidate.name,
            area=candidate.area,
            price=candidate.price_minor,
            currency=candidate.currency,
            tags=candidate.tags,
        ),
        reason=clean_reason(reason, context),
        checks=Checks(
            allergens=tuple(facts.allergies),
            diets=tuple(facts.diets) if candidate.food else (),
            budget_remaining=max(facts.remaining_limit_minor, 0),
            unverified=tuple(facts.dietary_notes),
        ),
    )


def clean_reason(reason: str, context: TurnContext) -> str:
    """The card's reason without markup; a neutral one if it carries instructions, names an item to avoid, or is
    empty once cleaned."""
    text = _LINK.sub(r"\1", reason)
    text = _EMPHASIS.sub(" ", _URL.sub(" ", _TAG.sub(" ", text)))
    text = " ".join(text.split())
    if len(text) > MAX_REASON_CHARS:
        text = text[: MAX_REASON_CHARS - 1].rstrip() + "…"
    if not text or _INSTRUCTION.search(text) or _names_in(text, avoid_names(context, ())):
        return neutral_reason(context.customer.preferred_language)
    return text


def neutral_reason(language: str) -> str:
    return "요청과 조건에 맞아요." if _korean(language) else "Fits your request and your rules."


def avoid_names(context: TurnContext, dropped: Sequence[str], kept: Sequence[Card] = ()) -> tuple[str, ...]:
    """The name variants the reply must not carry: whole names, the part before a parenthesis and the part in it,
    each at least MIN_NAME_CHARS long and not part of a kept card's name."""
    kept_names = [_fold(card.item.name) for card in kept]
    found: dict[str, None] = {}
    for name in (*context.avoid_names, *context.disliked, *dropped):
        for variant in _variants(name):
            if len(variant) >= MIN_NAME_CHARS and not any(variant in kept_name for kept_name in kept_names):
                found[variant] = None
    return tuple(found)


def _variants(name: str) -> list[str]:
    folded = _fold(name)
    variants = [folded]
    if match := _PAREN.search(folded):
        variants += [folded[: match.start()].strip(), match.group(1).strip()]
    return [variant for variant in variants if variant]


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def _names_in(text: str, names: Sequence[str]) -> bool:
    folded = _fold(text)
    return any(name in folded for name in names)


def _korean(language: str) -> bool:
    return language.strip().lower().startswith("ko")


class Grounder:
    """One reply's checks: `settle` with the members before "reply" (None for a plain-text answer), `feed` each
    piece of the reply text as it streams, `finish` once with the rest (a reply read whole: all of it); then
    `cards`, and `text` (everything `feed` and `finish` returned)."""

    def __init__(self, context: TurnContext, *, max_cards: int) -> None:
        self._context = context
        self._max_cards = max_cards
        self.cards: tuple[Card, ...] = ()
        self._guard: TextGuard | None = None  # when there are names to avoid
        self._settled = False
        self._blind = False  # the model proposed what the code cannot name: its text is not released
        self._out: list[str] = []
        self.redacted = 0  # sentences left out

    @property
    def text(self) -> str:
        return "".join(self._out)

    def settle(self, head: dict[str, Any] | None) -> None:
        if self._settled:
            return
        self._settled = True
        proposals = head.get("recommendations") if head else None
        self.cards, dropped = check(self._context, proposals, max_cards=self._max_cards)
        self._blind = _unnameable(self._context, proposals)
        if avoid := avoid_names(self._context, dropped, self.cards):
            self._guard = TextGuard(avoid)

    def feed(self, text: str) -> str:
        """What of the reply may be shown once `text` follows what was fed before."""
        self.settle(None)
        return self._take(text, final=False)

    def finish(self, rest: str = "") -> str:
        """What is left to show once the reply text ends with `rest`, and the repair if anything was left out."""
        self.settle(None)
        out = self._take(rest, final=True)
        if self.redacted or not self.text.strip():  # also a reply with no text at all (a small model's)
            log.info("reply text repaired", extra={"sentences_left_out": self.redacted, "whole_text": self._blind})
            piece = ("\n\n" if self.text.strip() else "") + repair_text(self._context, self.cards)
            self._out.append(piece)
            out += piece
        return out

    def _take(self, text: str, *, final: bool) -> str:
        if self._blind:
            if text:
                self.redacted = 1  # the whole text
            return ""
        out = text
        if self._guard is not None:
            out = self._guard.release(text, final=final)
            self.redacted = self._guard.left_out
        if out:
            self._out.append(out)
        return out


def _unnameable(context: TurnContext, proposals: object) -> bool:
    """Whether the model proposed something whose name the code cannot know: a malformed field or proposal, or an
    item that was not among this turn's candidates."""
    if proposals is None:
        return False
    if not isinstance(proposals, list):
        return True
    offered = {candidate.external_id for candidate in context.candidates}
    return any(_proposal(proposal)[0] not in offered for proposal in proposals)


def repair_text(context: TurnContext, cards: Sequence[Card]) -> str:
    """The sentence a repaired reply ends with: the kept cards by name, or plainly that nothing fits."""
    names = ", ".join(card.item.name for card in cards)
    if _korean(context.customer.preferred_language):
        return f"조건에 맞는 추천은 {names}입니다." if cards else "지금은 조건에 맞는 추천이 없어요."
    return f"What fits your rules: {names}." if cards else "Nothing I may recommend fits your rules right now."
