"""The structured reply `{"mood": ..., "recommendations": [...], "reply": ...}`: the response_format that asks for
it, and a reader that pulls the reply text out of the JSON while it streams, so the customer sees the words as the
model writes them. The members before "reply" (the mood and the proposed cards) are complete before its first
character: the reader hands them to `on_head` then, so the cards are settled, and the names the text must not
carry known, before the first delta (llm/grounding.py).

Servers that ignore response_format (some OpenAI-compatible ones do) answer plain text; the reader passes it through.
A structured answer that is not valid JSON (cut off, or broken by a small model) does not fail the turn: the reply is
the text of its "reply" string as far as it could be read, possibly none (the caller's Grounder then answers with the
sentence of the kept cards), and no card comes from members that did not parse (`malformed` says so). Only an answer
with nothing in it is unusable.
A raw control character inside a string (a newline, which llama.cpp's grammars let small models write) is read as
itself, as the streaming decoder reads it, instead of making the whole answer invalid.
"""

import json
import re
from collections.abc import Callable
from typing import Any

from llm.data import MOODS
from llm.errors import LLMBadResponse

# "mood" comes first, then "noted" (rules the customer stated that the prompt does not list yet: they may only
# tighten), then "recommendations": with strict structured outputs the model writes properties in schema order, so it
# settles the mood, the rules and the cards before the reply, and the reply's text streams last, uninterrupted.
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "reply",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "mood": {"type": ["string", "null"], "enum": [*MOODS, None]},
                "noted": {
                    "type": ["object", "null"],
                    "properties": {
                        "allergens": {"type": "array", "items": {"type": "string"}},
                        "diets": {"type": "array", "items": {"type": "string"}},
                        "max_price": {"type": ["integer", "null"]},
                        "exclude_tags": {"type": "array", "items": {"type": "string"}},
                    },
                    "required": ["allergens", "diets", "max_price", "exclude_tags"],
                    "additionalProperties": False,
                },
                "recommendations": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"item_id": {"type": "string"}, "reason": {"type": "string"}},
                        "required": ["item_id", "reason"],
                        "additionalProperties": False,
                    },
                },
                "reply": {"type": "string"},
            },
            "required": ["mood", "noted", "recommendations", "reply"],
            "additionalProperties": False,
        },
    },
}

_MAX_SEEK = 8192  # past this many characters without the reply starting, the answer is read whole at the end
_DECODER = json.JSONDecoder(strict=False)
_SPACE = re.compile(r"\s*")

_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_PLAIN_RUN = re.compile(r'[^"\\]+')
# What may still grow into a low surrogate escape, "\uDC00" to "\uDFFF".
_LOW_SURROGATE_PREFIX = re.compile(r"(?:\\(?:u(?:[dD](?:[c-fC-F][0-9a-fA-F]{0,2})?)?)?)?")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_REPLACEMENT = "\ufffd"


class ReplyReader:
    """Feed an answer's content deltas in order; each `feed` returns the reply text they add, `finish` the whole
    reply and the mood.

    With `structured`, an answer that starts with "{" is read as the {mood, reply} object: the JSON is scanned up
    to the reply's string, whose body is then decoded as it arrives. Anything else is a plain-text reply (leading
    whitespace dropped). Raises LLMBadResponse for an empty answer.
    """

    def __init__(self, *, structured: bool, on_head: Callable[[dict[str, Any] | None], None] | None = None) -> None:
        self._structured = structured
        self._on_head = on_head  # called once with the members before "reply" (None: a plain-text answer)
        self.head: dict[str, Any] | None = None
        self.answer: Any = None  # the whole answer decoded, once `finish` read it as JSON
        self.malformed = False  # a structured answer that is not JSON with a "reply" string (known at `finish`)
        self._mode = "start"  # start -> plain | seek -> reply | whole; reply -> broken (an invalid escape)
        self._head = ""  # what arrived before the reply text started
        self._raw: list[str] = []
        self._emitted: list[str] = []
        self._string = JSONStringDecoder()

    @property
    def emitted(self) -> str:
        """The reply text returned by `feed` so far."""
        return "".join(self._emitted)

    def feed(self, chunk: str) -> str:
        # Where model text enters: the SDK's JSON decoder keeps an escaped lone surrogate ("\ud800"), which no
        # encoder of the reply (Redis, the JSON answer, an SSE event) could write.
        chunk = _replace_lone_surrogates(chunk)
        self._raw.append(chunk)
        text = self._advance(chunk)
        if text:
            self._emitted.append(text)
        return text

    def finish(self, finish_reason: str) -> tuple[str, str | None]:
        """The whole reply text and the mood (one of MOODS, or None) once the answer is complete.

        The text starts with `emitted`; anything after it (a reply that could not be streamed) is still to be sent.
        """
        if self._mode == "plain":
            return self.emitted, None
        if self._mode == "start":
            raise LLMBadResponse("The model's answer was empty.")
        if self._mode not in ("reply", "broken"):  # the members before the reply are only known now
            self._settle_head(self._whole_head())
        raw = "".join(self._raw)
        try:
            answer = json.loads(raw, strict=False)
        except ValueError:
            # Cut off by the token limit or broken: what of the reply was read stands, possibly nothing.
            self.malformed = True
            return self.emitted, None
        self.answer = answer
        if not isinstance(answer, dict) or not isinstance(answer.get("reply"), str):
            self.malformed = True
            return self.emitted, _mood(answer.get("mood")) if isinstance(answer, dict) else None
        text = self.emitted if self._mode == "reply" else _replace_lone_surrogates(answer["reply"])
        return text, _mood(answer.get("mood"))  # possibly empty: the caller decides (a reply's Grounder repairs it)

    def _advance(self, chunk: str) -> str:
        if self._mode == "plain":
            return chunk
        if self._mode == "reply":
            return self._decode(chunk)
        if self._mode in ("whole", "broken"):
            return ""
        self._head += chunk
        if self._mode == "start":
            text = self._head.lstrip()
            if not text:
                return ""
            if not (self._structured and text.startswith("{")):
                self._mode = "plain"
                self._settle_head(None)
                return text
            self._mode = "seek"
        found = _reply_start(self._head)
        if found is not None:
            head, end = found
            self._mode = "reply"
            self._settle_head(head)
            return self._decode(self._head[end:])
        if len(self._head) > _MAX_SEEK:
            self._mode = "whole"
        return ""

    def _settle_head(self, head: dict[str, Any] | None) -> None:
        self.head = head
        if self._on_head is not None:
            self._on_head(head)
            self._on_head = None

    def _whole_head(self) -> dict[str, Any] | None:
        try:
            answer = json.loads("".join(self._raw), strict=False)
        except ValueError:
            return {}
        return {k: v for k, v in answer.items() if k != "reply"} if isinstance(answer, dict) else {}

    def _decode(self, chunk: str) -> str:
        try:
            return self._string.feed(chunk)
        except ValueError:  # an invalid escape: the reply's text ends before it (the answer is not JSON)
            self._mode = "broken"
            return ""


def _reply_start(text: str) -> tuple[dict[str, Any], int] | None:
    """The members before "reply" and where the reply's string body starts, once `text` holds the object up to the
    reply's opening quote; None while it does not yet (or never will: the caller stops seeking past _MAX_SEEK)."""
    i = _SPACE.match(text).end()
    if not text.startswith("{", i):
        return None
    i += 1
    head: dict[str, Any] = {}
    while True:
        i = _SPACE.match(text, i).end()
        try:
            key, i = _DECODER.raw_decode(text, i)
        except ValueError:
            return None
        i = _SPACE.match(text, i).end()
        if not isinstance(key, str) or not text.startswith(":", i):
            return None
        i = _SPACE.match(text, i + 1).end()
        if key == "reply":
            return (head, i + 1) if text.startswith('"', i) else None
        try:
            value, i = _DECODER.raw_decode(text, i)
        except ValueError:
            return None
        i = _SPACE.match(text, i).end()
        if not text.startswith(",", i):  # the value may still grow (a number), or the object ends with no reply
            return None
        head[key] = value
        i += 1


class JSONStringDecoder:
    """Decodes the body of one JSON string, after its opening quote, from pieces split anywhere: inside an escape
    such as `\\n` or `\\u00e9`, or between the two halves of a surrogate pair. Lone surrogates become U+FFFD.

    `feed` returns the text decoded so far and ignores everything after the closing quote (then `done` is True).
    Raises ValueError on an invalid escape.
    """

    def __init__(self) -> None:
        self.done = False
        self._pending = ""  # an escape that is not complete yet

    def feed(self, chunk: str) -> str:
        if self.done:
            return ""
        text, self._pending = self._pending + chunk, ""
        out: list[str] = []
        i = 0
        while i < len(text):
            run = _PLAIN_RUN.match(text, i)
            if run:
                out.append(run.group())
                i = run.end()
            elif text[i] == '"':
                self.done = True
                break
            else:
                decoded, length = _escape(text, i)
                if not length:
                    self._pending = text[i:]
                    break
                out.append(decoded)
                i += length
        return "".join(out)


def _escape(text: str, i: int) -> tuple[str, int]:
    """The escape starting at text[i] (a backslash): its text and length, or ("", 0) when it is still incomplete."""
    if i + 1 >= len(text):
        return "", 0
    kind = text[i + 1]
    if kind != "u":
        if kind not in _ESCAPES:
            raise ValueError(f"invalid escape \\{kind}")
        return _ESCAPES[kind], 2
    code = _hex4(text, i + 2)
    if code is None:
        return "", 0
    if 0xDC00 <= code <= 0xDFFF:  # a low surrogate with no high one before it
        return _REPLACEMENT, 6
    if not 0xD800 <= code <= 0xDBFF:
        return chr(code), 6
    # A high surrogate: the character is only whole with the low surrogate escape that should follow.
    tail = text[i + 6 : i + 12]
    if len(tail) < 6 and _LOW_SURROGATE_PREFIX.fullmatch(tail):
        return "", 0
    low = _hex4(text, i + 8) if tail.startswith("\\u") else None
    if low is None or not 0xDC00 <= low <= 0xDFFF:
        return _REPLACEMENT, 6
    return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), 12


def _hex4(text: str, start: int) -> int | None:
    digits = text[start : start + 4]
    if len(digits) < 4:
        if not all(ch in "0123456789abcdefABCDEF" for ch in digits):
            raise ValueError("invalid \\u escape")
        return None
    if not _HEX4.fullmatch(digits):
        raise ValueError("invalid \\u escape")
    return int(digits, 16)


def _replace_lone_surrogates(text: str) -> str:
    # json.loads keeps an unpaired surrogate as is; it could not be encoded as UTF-8 later. A pair is joined.
    if text.isascii():
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _mood(value: object) -> str | None:
    mood = value.strip().lower() if isinstance(value, str) else None
    return mood if mood in MOODS else None
