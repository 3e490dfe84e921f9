"""The measurement behind the text guard's shortest names (evals/short_names.py, decision 0032), on the demo
catalog: the rule in force misses no Korean name, and costs only the false hits the decision accepts."""

from evals import short_names
from llm import grounding


def _hits(rule):
    return set(short_names.measure(*rule)["false_hits"])


def test_the_rule_in_force_misses_no_demo_food_name_and_adds_only_the_accepted_false_hits():
    rule = (grounding.MIN_NAME_CHARS, grounding.MIN_NOTE_CHARS)
    assert rule == (2, 3)
    before = short_names.measure(3, 3)
    assert before["missed"] == ["수육", "순대", "족발"]  # before issue 25: two-syllable names not looked for
    now = short_names.measure(*rule)
    assert now["missed"] == []
    # "수육" in "탕수육" (another dish) and in "돼지국밥"'s description (a real mention).
    assert _hits(rule) - _hits((3, 3)) == {("수육", "mapo-bul-jjamppong"), ("수육", "mapo-mangwon-gukbap:1")}
    # Notes in parentheses from 2 characters would add "2인" ("for two") in three descriptions, naming nothing.
    assert {hit[0] for hit in _hits((2, 2)) - _hits(rule)} == {"2인"}
