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
    allergen     the item contains one of the customer's allergens (profile's or stated; declared or mentioned by
                 its own text), or it is food whose allergens are not declared and the customer has any allergy
    diet         a food item that misses one of the customer's diets (profile's or stated)
    budget       priced in another currency, above the remaining monthly limit, or above the stated cap
    excluded     the item's name, tags, area or kind hold a tag the customer ruled out (a whole word)
    kind         not of the kinds the customer asked for
    rated_down   the customer rated it down

The rules are the profile's with the session's constraints (`TurnContext.rules`), tightened by what the model notes
in the structured reply (`noted`: allergen and diet codes of the caller's vocabulary, a cap, tags; anything else in
it is ignored): a note only ever adds a rule, for this reply's proposals and, stored by the turn, for later turns.

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
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any
from uuid import uuid4

from llm.data import NO_CONSTRAINTS, Candidate, Card, CardItem, Checks, Constraints, Message, TurnContext
from llm.text_guard import TextGuard, fold

log = logging.getLogger(__name__)

DROPPED: Counter[str] = Counter()  # dropped proposals of this process, by reason code (for metrics)
MAX_REASON_CHARS = 200
# The shortest variant looked for in the text: a name, or its part before a parenthesis, from 2 characters (a
# two-syllable Korean dish: 족발, 순대, 수육); the part in a parenthesis (a translation or a note: "1시간", "2인")
# from 3. Measured on the demo catalog: evals/short_names.py, docs/decisions/0032-text-guard-normalised-names.md.
MIN_NAME_CHARS = 2
MIN_NOTE_CHARS = 3
MAX_NOTED_TAGS = 10
MAX_TAG_CHARS = 40

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
    bound = context.rules()
    for position, proposal in enumerate(proposals):
        item_id, reason = _proposal(proposal)
        candidate = offered.get(item_id) if item_id is not None else None
        code = _verdict(context, bound, candidate, item_id, kept_ids, len(cards), max_cards)
        if code:
            counts[code] += 1
            log.info("recommendation dropped", extra={"reason": code, "position": position})
            if candidate is not None and item_id not in kept_ids:
                dropped_names.append(candidate.name)
            continue
        kept_ids.add(item_id)
        cards.append(_card(context, bound, candidate, reason))
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
    context: TurnContext,
    bound: Constraints,
    candidate: Candidate | None,
    item_id: str | None,
    kept: set[str],
    cards: int,
    most: int,
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
    if _may_contain_any(candidate, bound.allergens):
        return "allergen"
    if candidate.food and not set(bound.diets) <= set(candidate.diets):
        return "diet"
    if candidate.price_minor is not None and (
        candidate.currency != facts.currency
        or candidate.price_minor > facts.remaining_limit_minor
        or (bound.max_price is not None and candidate.price_minor > bound.max_price)
    ):
        return "budget"
    if bound.exclude_tags and _holds_tag(candidate, bound.exclude_tags):
        return "excluded"
    if bound.kinds and candidate.kind not in bound.kinds:
        return "kind"
    if fold(candidate.name) in {fold(name) for name in context.disliked}:
        return "rated_down"
    return ""


def _holds_tag(candidate: Candidate, tags: Sequence[str]) -> bool:
    """Whether one of `tags` is a whole word of the item's name, tags, area or kind (as the catalog's keywords)."""
    words = f" {' '.join((candidate.name, *candidate.tags, candidate.area, candidate.kind)).casefold()} "
    return any(f" {tag.casefold()} " in words for tag in tags)


def _may_contain_any(candidate: Candidate, allergies: Sequence[str]) -> bool:
    """Whether the item may contain one of `allergies`: declared, mentioned by its own text, or any at all when it
    is food whose allergens are not declared."""
    if not allergies:
        return False
    if candidate.allergens is None and candidate.food:
        return True
    return bool(set(allergies) & {*(candidate.allergens or ()), *candidate.mentions})


def noted(context: TurnContext, head: dict[str, Any] | None) -> Constraints:
    """The rules the model noted in its structured reply (`noted`), validated: allergen and diet codes of the
    caller's vocabulary, a whole non-negative cap, at most MAX_NOTED_TAGS short tags; anything else is ignored."""
    value = head.get("noted") if head else None
    if not isinstance(value, dict):
        return Constraints()
    vocabulary = context.vocabulary
    cap = value.get("max_price")
    tags = [tag.strip().casefold() for tag in _strings(value.get("exclude_tags"))]
    return Constraints(
        allergens=tuple(dict.fromkeys(c for c in _strings(value.get("allergens")) if c in vocabulary.allergens)),
        diets=tuple(dict.fromkeys(c for c in _strings(value.get("diets")) if c in vocabulary.diets)),
        max_price=cap if type(cap) is int and cap >= 0 else None,
        exclude_tags=tuple(dict.fromkeys(t for t in tags if 0 < len(t) <= MAX_TAG_CHARS and t.isprintable()))[
            :MAX_NOTED_TAGS
        ],
    )


def _strings(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _card(context: TurnContext, bound: Constraints, candidate: Candidate, reason: str) -> Card:
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
            allergens=bound.allergens if candidate.allergens is not None else (),  # declared data only
            diets=bound.diets if candidate.food else (),
            budget_remaining=facts.remaining_limit_minor,
            unverified=tuple(facts.dietary_notes),
            max_price=bound.max_price,
            dishes=candidate.dishes,
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
        return neutral_reason(korean=context.customer.korean)
    return text


def neutral_reason(*, korean: bool) -> str:
    return "요청과 조건에 맞아요." if korean else "Fits your request and your rules."


def avoid_names(context: TurnContext, dropped: Sequence[str], kept: Sequence[Card] = ()) -> tuple[str, ...]:
    """The name variants the reply must not carry, folded (`text_guard.fold`): whole names and the part before a
    parenthesis (at least MIN_NAME_CHARS long), the part in it (at least MIN_NOTE_CHARS), none part of a kept card's
    name."""
    kept_names = [fold(card.item.name) for card in kept]
    found: dict[str, None] = {}
    for name in (*context.avoid_names, *context.disliked, *dropped):
        for variant, least in _variants(name):
            if len(variant) >= least and not any(variant in kept_name for kept_name in kept_names):
                found[variant] = None
    return tuple(found)


def _variants(name: str) -> list[tuple[str, int]]:
    """The name's variants, each with the fewest characters it is looked for with."""
    folded = fold(name)
    variants = [(folded, MIN_NAME_CHARS)]
    if match := _PAREN.search(folded):
        variants += [(folded[: match.start()].strip(), MIN_NAME_CHARS), (match.group(1).strip(), MIN_NOTE_CHARS)]
    return [(variant, least) for variant, least in variants if variant]


def _names_in(text: str, names: Sequence[str]) -> bool:
    folded = fold(text)
    return any(name in folded for name in names)


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
        self.noted = NO_CONSTRAINTS  # what the model noted (validated), to be kept with the session
        self.redacted = 0  # sentences left out

    @property
    def text(self) -> str:
        return "".join(self._out)

    def settle(self, head: dict[str, Any] | None) -> None:
        if self._settled:
            return
        self._settled = True
        self.noted = noted(self._context, head)
        if self.noted != NO_CONSTRAINTS:
            self._context = replace(self._context, constraints=self._context.constraints.tightened(self.noted))
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


def withdraw(context: TurnContext, reply: Message, withdrawn: Collection[str]) -> Message:
    """`reply` without its cards whose ids are `withdrawn` (found inadmissible after the reply was checked), and its
    text kept from naming them as from naming a dropped proposal: each passage naming one left out, then the
    sentence of the cards kept."""
    kept = tuple(card for card in reply.recommendations if card.id not in withdrawn)
    names = [card.item.name for card in reply.recommendations if card.id in withdrawn]
    guard = TextGuard(avoid_names(context, names, kept))
    text = guard.release(reply.content, final=True)
    if guard.left_out:
        log.info("reply text repaired", extra={"sentences_left_out": guard.left_out, "withdrawn": len(names)})
        text += ("\n\n" if text.strip() else "") + repair_text(context, kept)
    return replace(reply, content=text, recommendations=kept)


def repair_text(context: TurnContext, cards: Sequence[Card]) -> str:
    """The sentence a repaired reply ends with: the kept cards by name, or plainly that nothing fits."""
    names = ", ".join(card.item.name for card in cards)
    if context.customer.korean:
        return f"조건에 맞는 추천은 {names}입니다." if cards else "지금은 조건에 맞는 추천이 없어요."
    return f"What fits your rules: {names}." if cards else "Nothing I may recommend fits your rules right now."
