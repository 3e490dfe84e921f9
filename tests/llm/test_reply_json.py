"""Reading the structured reply: the reply's JSON string decoded as it streams, split anywhere."""

import json

import pytest

from llm.errors import LLMBadResponse
from llm.reply_json import RESPONSE_FORMAT, JSONStringDecoder, ReplyReader

TRICKY = 'Line one\nTab\there "quoted" back\\slash /slash é 피곤 😀 𝄞 end'


def _body(text: str) -> str:
    """What follows the opening quote of `text` as JSON, escapes and all (😀 becomes a surrogate pair)."""
    return json.dumps(text, ensure_ascii=True)[1:] + ', "after": "ignored"}'


def _decode(pieces: list[str]) -> tuple[str, bool]:
    decoder = JSONStringDecoder()
    return "".join(decoder.feed(piece) for piece in pieces), decoder.done


def test_the_schema_asks_for_mood_then_noted_then_recommendations_then_reply():
    schema = RESPONSE_FORMAT["json_schema"]["schema"]
    assert RESPONSE_FORMAT["json_schema"]["strict"] is True
    assert list(schema["properties"]) == ["mood", "noted", "recommendations", "reply"]
    assert schema["required"] == ["mood", "noted", "recommendations", "reply"]
    noted = schema["properties"]["noted"]
    assert noted["type"] == ["object", "null"]
    assert noted["required"] == ["allergens", "diets", "max_price", "exclude_tags"]
    assert noted["additionalProperties"] is False
    item = schema["properties"]["recommendations"]["items"]
    assert item["required"] == ["item_id", "reason"]
    assert item["additionalProperties"] is False
    assert schema["additionalProperties"] is False
    assert None in schema["properties"]["mood"]["enum"]


@pytest.mark.parametrize("text", [TRICKY, "\\u00e9 is not an escape here", "", "\u2028\u2029\x00"])
def test_a_string_split_at_every_position_decodes_whole(text):
    body = _body(text)
    for cut in range(len(body) + 1):
        assert _decode([body[:cut], body[cut:]]) == (text, True), f"split at {cut}: {body[:cut]!r}"


def test_a_string_fed_one_character_at_a_time_decodes_whole():
    assert _decode(list(_body(TRICKY))) == (TRICKY, True)


def test_a_string_split_twice_anywhere_inside_a_surrogate_pair_decodes_whole():
    body = _body("😀")  # \ud83d\ude00"...
    for first in range(13):
        for second in range(first, 13):
            assert _decode([body[:first], body[first:second], body[second:]]) == ("😀", True)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('\\ud83d tail"', "\ufffd tail"),  # a high surrogate followed by text
        ('\\ud83d"', "\ufffd"),  # a high surrogate closing the string
        ('\\ud83d\\u0041"', "\ufffdA"),  # a high surrogate followed by a non-surrogate escape
        ('\\ude00 x"', "\ufffd x"),  # a low surrogate alone
    ],
)
def test_lone_surrogates_become_replacement_characters(body, expected):
    for cut in range(len(body) + 1):
        assert _decode([body[:cut], body[cut:]]) == (expected, True)


@pytest.mark.parametrize("body", ['bad \\x escape"', 'bad \\u12G4"'])
def test_an_invalid_escape_is_an_error(body):
    with pytest.raises(ValueError, match="escape"):
        _decode([body])


def test_an_unfinished_string_is_not_done():
    assert _decode(['half a \\"sent', "ence"]) == ('half a "sentence', False)


def _read(pieces: list[str], *, structured: bool = True, finish_reason: str = "stop") -> tuple[list[str], str, str]:
    reader = ReplyReader(structured=structured)
    deltas = [delta for piece in pieces if (delta := reader.feed(piece))]
    text, mood = reader.finish(finish_reason)
    return deltas, text, mood


def _chunks(text: str, size: int = 3) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def test_the_reply_streams_while_the_json_arrives():
    raw = json.dumps({"mood": "tired", "reply": TRICKY})
    deltas, text, mood = _read(_chunks(raw))
    assert len(deltas) > 5
    assert "".join(deltas) == text == TRICKY
    assert mood == "tired"


@pytest.mark.parametrize(
    "answer",
    [
        {"reply": "Soup.", "mood": "calm"},  # reply first
        {"note": 'a "quoted" \\ value', "n": -1.5e3, "ok": True, "x": None, "mood": "calm", "reply": "Soup."},
    ],
)
def test_members_before_and_after_the_reply_are_skipped(answer):
    deltas, text, mood = _read(_chunks(json.dumps(answer), 2))
    assert "".join(deltas) == text == "Soup."
    assert mood == "calm"


def test_a_reply_after_nested_members_still_streams_and_the_members_come_first():
    cards = [{"item_id": "a-1", "reason": 'a "quoted", {braced} [reason]'}, {"item_id": "b", "reason": ""}]
    raw = json.dumps({"mood": "sad", "recommendations": cards, "meta": {"a": [1, 2.5]}, "reply": "x" * 2000})
    heads = []
    reader = ReplyReader(structured=True, on_head=lambda head: heads.append((head, reader.emitted)))
    deltas = [delta for chunk in _chunks(raw, 7) if (delta := reader.feed(chunk))]
    text, mood = reader.finish("stop")
    assert len(deltas) > 1
    assert "".join(deltas) == text == "x" * 2000
    assert mood == "sad"
    # the members before the reply were handed over once, before any of its text
    assert heads == [({"mood": "sad", "recommendations": cards, "meta": {"a": [1, 2.5]}}, "")]


def test_a_head_longer_than_the_seek_bound_is_read_whole_at_the_end():
    raw = json.dumps({"meta": "m" * 9000, "mood": "sad", "reply": "x" * 200})
    heads = []
    reader = ReplyReader(structured=True, on_head=heads.append)
    deltas = [delta for chunk in _chunks(raw, 500) if (delta := reader.feed(chunk))]
    text, mood = reader.finish("stop")
    assert deltas == []
    assert text == "x" * 200
    assert mood == "sad"
    assert heads == [{"meta": "m" * 9000, "mood": "sad"}]


def test_a_plain_text_answer_has_no_head():
    heads = []
    reader = ReplyReader(structured=True, on_head=heads.append)
    assert reader.feed("Just text.") == "Just text."
    assert heads == [None]


@pytest.mark.parametrize("mood", ["sleepy", 3, None])
def test_a_mood_outside_the_list_is_none(mood):
    assert _read([json.dumps({"mood": mood, "reply": "Hi."})])[2] is None


def test_a_mood_is_normalized():
    assert _read([json.dumps({"mood": " Happy ", "reply": "Hi."})])[2] == "happy"


def test_plain_text_is_the_reply_when_a_server_ignores_the_format():
    deltas, text, mood = _read(["\n  Try ", "bibimbap", " tonight."])
    assert deltas == ["Try ", "bibimbap", " tonight."]
    assert text == "Try bibimbap tonight."
    assert mood is None


def test_unstructured_answers_pass_json_looking_text_through():
    deltas, text, mood = _read(['{"not": "parsed"}'], structured=False)
    assert text == '{"not": "parsed"}' == "".join(deltas)
    assert mood is None


def test_a_reply_cut_by_the_token_limit_keeps_what_was_written():
    deltas, text, mood = _read(['{"mood": null, "reply": "Try the spicy', " soup and"], finish_reason="length")
    assert text == "Try the spicy soup and" == "".join(deltas)
    assert mood is None


@pytest.mark.parametrize(
    ("pieces", "finish_reason", "text"),
    [
        (['{"mood": null, "reply": "cut'], "stop", "cut"),  # invalid JSON without the token limit as the excuse
        (['{"mood": "happy", "recommendations": [{"item_id": "a", "rea'], "length", ""),  # cut before the reply
        (['{"mood": "happy", "recommendations": [{"item_id": "a"}}, "reply": "x"}'], "stop", ""),  # broken head
        (['{"mood": "happy"}'], "stop", ""),  # no reply
        (['{"mood": "happy", "reply": 5}'], "stop", ""),  # a reply that is not a string
        (['{"mood": null, "reply": "a ', '\\q b"}'], "stop", "a "),  # an invalid escape: the text before it
    ],
)
def test_a_malformed_structured_answer_gives_the_reply_text_that_could_be_read(pieces, finish_reason, text):
    heads = []
    reader = ReplyReader(structured=True, on_head=heads.append)
    deltas = [delta for piece in pieces if (delta := reader.feed(piece))]
    assert reader.finish(finish_reason)[0] == text == "".join(deltas)
    assert reader.malformed
    assert not (heads[0] or {}).get("recommendations")  # nothing proposed comes from members that did not parse


@pytest.mark.parametrize(("pieces", "finish_reason"), [(["   "], "stop"), ([], "length")])
def test_an_empty_answer_is_a_bad_response(pieces, finish_reason):
    with pytest.raises(LLMBadResponse):
        _read(pieces, finish_reason=finish_reason)


def test_a_valid_answer_is_not_malformed():
    reader = ReplyReader(structured=True)
    reader.feed('{"mood": "happy", "recommendations": [], "reply": "Hi."}')
    assert reader.finish("stop") == ("Hi.", "happy")
    assert not reader.malformed


@pytest.mark.parametrize("split", [1, 7, 40])
def test_a_raw_newline_inside_strings_is_read_as_itself(split):
    # llama-cpp-python's grammar-constrained output can carry one; strict JSON would refuse the whole answer.
    answer = '{"mood": "happy", "recommendations": [{"item_id": "a", "reason": "Good\nfood"}], "reply": "Try it.\n"}'
    heads = []
    reader = ReplyReader(structured=True, on_head=heads.append)
    text = reader.feed(answer[:split]) + reader.feed(answer[split:])
    assert reader.finish("stop") == ("Try it.\n", "happy")
    assert text == "Try it.\n"
    assert heads == [{"mood": "happy", "recommendations": [{"item_id": "a", "reason": "Good\nfood"}]}]


def test_an_empty_reply_is_read_as_such_for_the_caller_to_judge():
    assert _read(['{"mood": "happy", "reply": "  "}'], finish_reason="stop")[1:] == ("  ", "happy")
