"""The checks after the model, rule by rule, and the text guard (llm/grounding.py), on plain data."""

import itertools
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm import grounding
from llm.grounding import Grounder
from llm.text_guard import TextGuard, fold
from tests.llm.contexts import ALICE_CANDIDATES, alice, candidate

SATAY = candidate("satay", "Peanut Satay Bar", allergens=("peanut",))
STEAK = candidate("steak", "Mapo Steak House", diets=())
SALAD = candidate("salad", "Green Bowl", diets=("vegan", "vegetarian"))
PRICEY = candidate("omakase", "Omakase Hanok", price_minor=400_000)
DOLLARS = candidate("diner", "Dollar Diner", price_minor=1_500, currency="USD")
PARK = candidate("park", "Hanok Park", kind="place", price_minor=None, food=False)
MYSTERY = candidate("mystery", "Mystery Bistro", allergens=None)  # food whose allergens are not declared
SAUCE = candidate("sauce", "Hapjeong Noodles", allergens=(), mentions=("peanut",))  # its text says peanut
ALLERGENS = ("peanut", "milk", "wheat", "soy", "crustacean", "mollusc")


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
        (MYSTERY, {}, "allergen"),  # unknown is not "free of": she has an allergy
        (SAUCE, {}, "allergen"),  # what the item's own text says binds whatever its list says
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


def test_the_receipt_claims_no_check_on_allergens_not_declared():
    walk = candidate("walk", "Riverside Walk", kind="activity", price_minor=None, food=False, allergens=None)
    venue = candidate("venue", "Noodle House", dishes=("venue:1", "venue:3"))
    [walk_card, venue_card] = grounding.check(_context(walk, venue), _propose("walk", "venue"), max_cards=3)[0]
    assert walk_card.checks.allergens == ()  # not food: kept, but nothing was declared to check
    assert (venue_card.checks.allergens, venue_card.checks.dishes) == (("peanut",), ("venue:1", "venue:3"))
    [mystery] = grounding.check(_context(MYSTERY, allergies=()), _propose("mystery"), max_cards=3)[0]
    assert mystery.checks.allergens == ()


@settings(max_examples=200, deadline=None)
@given(
    items=st.lists(
        st.tuples(
            st.none() | st.frozensets(st.sampled_from(ALLERGENS), max_size=3),
            st.frozensets(st.sampled_from(ALLERGENS), max_size=2),
            st.booleans(),
        ),
        min_size=1,
        max_size=8,
    ),
    allergies=st.frozensets(st.sampled_from(ALLERGENS), max_size=3),
)
def test_a_card_is_kept_exactly_when_the_item_side_allergen_rules_allow_it(items, allergies):
    """Random items (allergens declared or not, mentioned by their text or not, food or not) and a random customer:
    a proposal is kept exactly when the rules, written out here, allow it, and its receipt claims a check only on
    declared data."""
    offered = [
        candidate(f"i{n}", f"Item number {n}", allergens=None if declared is None else tuple(sorted(declared)),
                  mentions=tuple(sorted(mentioned)), food=food, kind="restaurant" if food else "place")
        for n, (declared, mentioned, food) in enumerate(items)
    ]  # fmt: skip

    def allowed(declared, mentioned, food):
        if allergies and declared is None and food:
            return False
        return not (allergies & (declared or frozenset()) or allergies & mentioned)

    context = _context(*offered, allergies=tuple(sorted(allergies)))
    cards, _ = grounding.check(context, _propose(*(c.external_id for c in offered)), max_cards=len(offered))
    assert _ids(cards) == [c.external_id for c, item in zip(offered, items, strict=True) if allowed(*item)]
    for card in cards:
        declared = items[int(card.item.external_id[1:])][0]
        assert card.checks.allergens == (() if declared is None else tuple(sorted(allergies)))


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
    assert shown.startswith("Try the Green Bowl. Or the \u2026 Enjoy.")  # the cut marked: the name's sentence had begun
    assert shown == grounder.text
    assert shown.endswith("조건에 맞는 추천은 Green Bowl입니다.")  # alice prefers Korean


@pytest.mark.parametrize(
    ("proposed", "sentence"),
    [(("salad",), "조건에 맞는 추천은 Green Bowl입니다."), ((), "지금은 조건에 맞는 추천이 없어요.")],
)
def test_a_reply_without_text_is_the_sentence_of_the_kept_cards(proposed, sentence):
    # A small model may fill the schema with an empty "reply": the turn still answers, from what the code knows.
    shown, grounder = _guarded(_context(SALAD), {"recommendations": _propose(*proposed)}, ["", " "])
    assert shown == grounder.text == f" {sentence}"
    assert _ids(grounder.cards) == list(proposed)


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


PEANUT_BAR = replace(_context(SALAD), avoid_names=("Peanut Satay Bar",))
BILINGUAL = "매운 땅콩소스 비빔면 (Spicy Peanut-Sauce Noodles)"
JOKBAL = "족발 (Braised Pork Trotters)"
CAST = replace(
    _context(SALAD), avoid_names=("Peanut Satay Bar", BILINGUAL, "St. Mary's Kitchen", "Mapo Steak House", JOKBAL)
)
SALAD_HEAD = {"recommendations": _propose("salad")}


def _unfolded_names(context, text):
    """The names to avoid (any variant) that `text` carries, folded as the guard folds (NFKC, casefolded, format
    characters and markdown marks left out, whitespace runs as one space)."""
    folded = fold(text)
    return [name for name in grounding.avoid_names(context, ()) if name in folded]


def test_the_first_delta_goes_out_with_the_first_piece_that_cannot_start_a_name():
    grounder = Grounder(PEANUT_BAR, max_cards=3)
    grounder.settle(SALAD_HEAD)
    assert grounder.feed("Hello there, ") == "Hello there, "  # no sentence end waited for
    assert grounder.feed("how about") == "how about"


def test_a_tail_that_may_become_a_name_is_held_and_released_once_it_stops_matching():
    grounder = Grounder(PEANUT_BAR, max_cards=3)
    grounder.settle(SALAD_HEAD)
    assert grounder.feed("Try the Pea") == "Try the "
    assert grounder.feed("nut Sat") == ""
    assert grounder.feed("in tart.") == "Peanut Satin tart."
    assert grounder.finish() == ""
    assert grounder.redacted == 0


@pytest.mark.parametrize(
    "text",
    [
        "Try the PEANUT satay  Bar, it is great! Enjoy.",
        "오늘은 매운 땅콩소스 비빔면을 드셔 보세요. 정말 맛있어요!",
        "Or the spicy peanut-sauce NOODLES (매운 땅콩소스 비빔면). Bye.",
        "Or 매운 땅콩소스 비빔면 (Spicy Peanut-Sauce Noodles)",
    ],
)
def test_a_name_fed_one_character_a_delta_never_shows(text):
    deltas, grounder = _guarded_deltas(CAST, list(text))
    assert not any(_unfolded_names(CAST, delta) for delta in deltas)
    shown = "".join(deltas)
    assert _unfolded_names(CAST, shown) == []
    assert shown == grounder.text == _guarded(CAST, SALAD_HEAD, [text])[0]
    assert grounder.redacted == 1
    assert shown.endswith("조건에 맞는 추천은 Green Bowl입니다.")


def _guarded_deltas(context, pieces):
    grounder = Grounder(context, max_cards=3)
    grounder.settle(SALAD_HEAD)
    deltas = [grounder.feed(piece) for piece in pieces]
    return [*deltas, grounder.finish()], grounder


def test_a_name_right_at_the_start_leaves_its_sentence_out_unmarked():
    shown, grounder = _guarded(CAST, SALAD_HEAD, list("Peanut Satay Bar is great. Green Bowl too."))
    assert shown == "Green Bowl too.\n\n조건에 맞는 추천은 Green Bowl입니다."
    assert grounder.redacted == 1


def test_two_names_in_one_sentence_leave_out_the_rest_of_it_once():
    shown, grounder = _guarded(CAST, SALAD_HEAD, ["Try Peanut Satay", " Bar or Mapo Steak House. Green Bowl!"])
    assert shown == "Try \u2026 Green Bowl!\n\n조건에 맞는 추천은 Green Bowl입니다."
    assert grounder.redacted == 1


def test_a_name_that_would_run_on_from_released_text_across_a_cut_is_left_out_too():
    # "St. " is released (its sentence looks ended), the name after it left out; what follows would complete the
    # name "St. Mary's Kitchen" with it.
    shown, grounder = _guarded(CAST, SALAD_HEAD, list("Visit St. Peanut Satay Bar. Mary's Kitchen is open. Bye."))
    assert _unfolded_names(CAST, shown) == []
    assert shown == "Visit St. Bye.\n\n조건에 맞는 추천은 Green Bowl입니다."
    assert grounder.redacted == 2


def _wide(text):
    """`text` in full-width forms (U+FF01 to U+FF5E), which NFKC folds back."""
    return "".join(chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char for char in text)


WIDE_PEANUT = _wide("Peanut")
FRAGMENTS = (
    "Peanut Satay Bar", "PEANUT satay  bar", "Pea", "nut", "Satay", "\u200b", "**", WIDE_PEANUT, "족발", "족",
    "Spicy Peanut-Sauce Noodles",
    "매운 땅콩소스 비빔면", "땅콩", "(", "St.", "Mary's Kitchen", "Mapo", "Steak House", "Green Bowl", "Try", "the",
    "좋아요", "ß", ".", "!", "。", "\u2026", '"', ")", " ", "  ", "\n", "\n\n",
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    text=st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join),
    cuts=st.lists(st.integers(0, 600), max_size=60),
)
def test_however_a_reply_is_split_its_text_is_the_whole_replys_and_names_nothing_to_avoid(text, cuts):
    bounds = sorted({0, len(text), *(cut for cut in cuts if cut < len(text))})
    pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
    deltas, grounder = _guarded_deltas(CAST, pieces)
    shown = "".join(deltas)
    assert _unfolded_names(CAST, shown) == []
    assert shown == grounder.text == _guarded(CAST, SALAD_HEAD, [text])[0]


def test_only_a_streamed_piece_builds_the_prefix_set():
    whole = TextGuard(grounding.avoid_names(CAST, ()))
    assert whole.release("Try the Peanut Satay Bar. Bye.", final=True) == "Try the \u2026 Bye."
    assert whole._prefixes is None  # a reply read whole scans each name once, nothing is held
    streamed = TextGuard(grounding.avoid_names(CAST, ()))
    assert streamed.release("Try the Pea", final=False) == "Try the "
    assert streamed._prefixes is not None


@pytest.mark.parametrize(
    "text",
    [
        "Try the Braised\u200b Pork Trotters tonight. Bye.",  # a zero-width space inside the name
        f"Try the {_wide('Braised Pork Trotters')} tonight. Bye.",  # full-width letters
        "Try the **braised pork** trotters tonight. Bye.",  # markdown emphasis
        "Try the _Braised_ `Pork` ~~Trotters~~ tonight. Bye.",
        "Try the Braised\u00adPork\u2060 Trotters tonight. Bye.",  # a soft hyphen is no space: no name
        "오늘은 족발을 드셔 보세요. Bye.",  # a two-syllable Korean name
        "오늘은 족\u200b발 어때요? Bye.",
        "순대도 맛있어요. Bye.",
        "수육 한 접시 어때요? Bye.",
    ],
)
def test_a_name_disguised_by_unicode_or_markup_or_two_syllables_long_never_shows(text):
    context = replace(_context(SALAD), avoid_names=(JOKBAL, "순대 (blood sausage)", "수육 (boiled pork slices)"))
    deltas, grounder = _guarded_deltas(context, list(text))
    shown = "".join(deltas)
    assert shown == _guarded(context, SALAD_HEAD, [text])[0]
    if "\u00ad" in text:  # "braisedpork": not the name, released as written
        assert shown.startswith(text)
        assert grounder.redacted == 0
        return
    assert grounder.redacted == 1
    for word in ("Braised", _wide("Braised"), "braised", "Trotters", "족", "순대", "수육"):
        assert word not in shown
    assert "Bye." in shown


def test_short_korean_names_are_avoided_but_short_notes_in_parentheses_are_not():
    context = replace(_context(SALAD), avoid_names=("순대 (blood sausage)", "하늘 버스 (2인)", _wide("X")))
    assert grounding.avoid_names(context, ()) == (
        "순대 (blood sausage)",
        "순대",
        "blood sausage",
        "하늘 버스 (2인)",
        "하늘 버스",
    )
