"""The checks after the model, rule by rule, and the text guard (llm/grounding.py), on plain data."""

from dataclasses import replace

import pytest

from llm import grounding
from llm.grounding import Grounder
from tests.llm.contexts import ALICE_CANDIDATES, alice, candidate

SATAY = candidate("satay", "Peanut Satay Bar", allergens=("peanut",))
STEAK = candidate("steak", "Mapo Steak House", diets=())
SALAD = candidate("salad", "Green Bowl", diets=("vegan", "vegetarian"))
PRICEY = candidate("omakase", "Omakase Hanok", price_minor=400_000)
DOLLARS = candidate("diner", "Dollar Diner", price_minor=1_500, currency="USD")
PARK = candidate("park", "Hanok Park", kind="place", price_minor=None, food=False)


def _context(*candidates, **customer):
    context = alice()
    return replace(context, candidates=candidates, customer=replace(context.customer, **customer))


def _ids(cards):
    return [card.item.external_id for card in cards]


def _propose(*ids):
    return [{"item_id": item_id, "reason": "because"} for item_id in ids]


@pytest.mark.parametrize(
    ("item", "customer", "reason"),
    [
        (SATAY, {}, "allergen"),  # alice is allergic to peanuts
        (STEAK, {"diets": ("vegan",)}, "diet"),
        (PRICEY, {}, "budget"),  # above her 380,000 KRW left
        (DOLLARS, {}, "budget"),  # another currency
    ],
)
def test_a_proposal_breaking_a_rule_is_dropped(item, customer, reason):
    context = _context(item, SALAD, **customer)
    before = grounding.DROPPED[reason]
    cards, dropped = grounding.check(context, _propose(item.external_id, "salad"), max_cards=3)
    assert _ids(cards) == ["salad"]
    assert dropped == (item.name,)
    assert grounding.DROPPED[reason] == before + 1


def test_a_rated_down_item_is_dropped():
    context = replace(_context(SALAD, PARK), disliked=("Green Bowl",))
    cards, _ = grounding.check(context, _propose("salad", "park"), max_cards=3)
    assert _ids(cards) == ["park"]


def test_the_receipt_says_what_was_checked():
    context = _context(SALAD, PARK, diets=("vegan",), dietary_notes=("no cilantro",))
    [salad, park] = grounding.check(context, _propose("salad", "park"), max_cards=3)[0]
    assert (salad.checks.allergens, salad.checks.diets, salad.checks.budget_remaining) == (
        ("peanut",),
        ("vegan",),
        380_000,
    )
    assert salad.checks.unverified == ("no cilantro",)
    assert park.checks.diets == ()  # not food: no diet rule applies
    assert salad.id != park.id


def test_order_is_kept_and_the_maximum_holds():
    ids = [c.external_id for c in ALICE_CANDIDATES]
    cards, _ = grounding.check(_context(*ALICE_CANDIDATES), _propose(*reversed(ids)), max_cards=2)
    assert _ids(cards) == ids[::-1][:2]


def _guarded(context, head, pieces):
    grounder = Grounder(context, max_cards=3)
    grounder.settle(head)
    out = [grounder.feed(piece) for piece in pieces]
    out.append(grounder.finish())
    return "".join(out), grounder


def test_a_name_split_across_deltas_is_still_caught():
    context = replace(_context(SALAD), avoid_names=("Peanut Satay Bar",))
    text = "Try the Green Bowl. Or the Pea" + "nut Sa" + "tay Bar, it is great! Enjoy."
    pieces = [text[i : i + 4] for i in range(0, len(text), 4)]
    shown, grounder = _guarded(context, {"recommendations": _propose("salad")}, pieces)
    assert "Peanut" not in shown
    assert shown.startswith("Try the Green Bowl. Enjoy.")
    assert shown == grounder.text
    assert shown.endswith("조건에 맞는 추천은 Green Bowl입니다.")  # alice prefers Korean


def test_without_names_to_avoid_the_text_streams_through_unchanged():
    shown, grounder = _guarded(_context(SALAD), {"recommendations": _propose("salad")}, ["Green ", "Bowl!"])
    assert shown == "Green Bowl!"
    assert grounder.redacted == 0


def test_a_kept_cards_name_is_never_redacted_even_if_listed_to_avoid():
    context = replace(_context(SALAD), avoid_names=("Green Bowl",))
    shown, _ = _guarded(context, {"recommendations": _propose("salad")}, ["Green Bowl is lovely."])
    assert shown == "Green Bowl is lovely."


def test_parts_of_a_bilingual_name_are_avoided_too():
    context = replace(_context(SALAD), avoid_names=("매운 땅콩소스 비빔면 (spicy peanut-sauce noodles)",))
    shown, _ = _guarded(context, None, ["Try spicy peanut-sauce noodles. ", "Or 매운 땅콩소스 비빔면. Bye."])
    assert "peanut" not in shown
    assert "땅콩" not in shown
    assert "Bye." in shown
