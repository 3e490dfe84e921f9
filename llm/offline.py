"""The offline provider: deterministic answers built from the request itself, with no model and no network.

It lets the quick start and the test suite run without any endpoint; every turn it answers says `provider: offline`.
Replies greet the customer, acknowledge their mood, suggest from their preferences while avoiding their allergies and
mention the remaining budget; fold and summary answers are extractive (the first sentence of each customer message).
"""

import asyncio
import re
import zlib
from collections.abc import AsyncIterator, Mapping, Sequence

from llm import tokens
from llm.conf import LLMSettings, get_settings
from llm.data import TurnContext, Usage
from llm.prompts import format_money
from llm.providers import Completion, ModelRequest

MAX_SUMMARY_CHARS = 600
MAX_POINT_CHARS = 80  # one customer message's first sentence, in a summary
MAX_ECHO_CHARS = 60  # how much of the customer's message a reply quotes back
WORDS_PER_DELTA = 3

# Checked in this order; English words match whole (so "unhappy" is not "happy"), Korean stems match anywhere.
_MOOD_KEYWORDS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("tired", ("tired", "exhausted", "sleepy", "worn out"), ("피곤", "지쳤", "지친", "졸려")),
    ("stressed", ("stressed", "stressful", "overwhelmed", "swamped"), ("스트레스",)),
    ("anxious", ("anxious", "worried", "nervous"), ("불안", "걱정")),
    ("angry", ("angry", "furious", "annoyed"), ("화나", "화가", "짜증")),
    ("sad", ("sad", "unhappy", "depressed", "lonely"), ("슬퍼", "슬프", "우울")),
    ("excited", ("excited", "thrilled"), ("신나", "설레")),
    ("happy", ("happy", "glad", "cheerful"), ("행복", "기뻐", "기분 좋")),
    ("calm", ("calm", "relaxed", "peaceful"), ("편안", "차분")),
)
_MOOD_PATTERNS = tuple(
    (mood, re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + r")\b", re.IGNORECASE), stems)
    for mood, words, stems in _MOOD_KEYWORDS
)
_MOOD_SENTENCES = {
    "happy": "Glad you're in a good mood!",
    "excited": "Love the excitement!",
    "calm": "Nice and calm, then.",
    "neutral": "",
    "tired": "Sorry you're tired, so I'll keep it easy.",
    "sad": "Sorry you're feeling down; something comforting might help.",
    "anxious": "Let's keep things simple and reassuring.",
    "stressed": "That sounds stressful, so let's keep it low-effort.",
    "angry": "That sounds frustrating; let's find something that helps you unwind.",
}
_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s")  # also the ideographic and full-width marks
_WORD = re.compile(r"\S+\s*")


class OfflineProvider:
    """Answers from the request's context, deterministically: the same request always gets the same answer."""

    name = "offline"

    def __init__(self, cfg: LLMSettings | None = None) -> None:
        self._model = (cfg or get_settings()).model

    def complete(self, request: ModelRequest) -> Completion:
        """The whole answer. Usage is counted with the configured model's tokenizer, as a real call would bill."""
        if request.purpose == "reply":
            text, mood = _reply_text(request)
        else:
            text, mood = extractive_summary(request.previous_summary, request.transcript), None
        usage = Usage(
            prompt_tokens=tokens.count_request(request.messages, model=self._model),
            completion_tokens=tokens.count_text(text, model=self._model),
        )
        return Completion(text=text, mood=mood, usage=usage, finish_reason="stop")

    async def astream(self, request: ModelRequest) -> AsyncIterator[str | Completion]:
        """The answer in deltas of a few words each, then the Completion."""
        completion = self.complete(request)
        words = _WORD.findall(completion.text)
        for start in range(0, len(words), WORDS_PER_DELTA):
            yield "".join(words[start : start + WORDS_PER_DELTA])
            await asyncio.sleep(0)  # let other tasks run between deltas, as network reads would
        yield completion


def _reply_text(request: ModelRequest) -> tuple[str, str | None]:
    """The offline reply to the last user message of `request.messages`, and the mood inferred from it (or None)."""
    message = next((m["content"] for m in reversed(request.messages) if m.get("role") == "user"), "")
    inferred = infer_mood(message)
    mood = inferred or request.mood
    parts = [f"Hi {request.context.customer.display_name}!" if request.context else "Hi!"]
    if mood_sentence := _MOOD_SENTENCES.get(mood, ""):
        parts.append(mood_sentence)
    if echo := _shorten(_topic(message), MAX_ECHO_CHARS):
        parts.append(f"About “{echo}”:")
    parts.extend(_suggestions(request.context, seed=message) if request.context else ["tell me what you like."])
    parts.append("(Offline demo reply.)")
    return " ".join(parts), inferred


def infer_mood(text: str) -> str | None:
    """The mood a message states with a simple keyword (English or Korean), or None."""
    for mood, pattern, stems in _MOOD_PATTERNS:
        if pattern.search(text) or any(stem in text for stem in stems):
            return mood
    return None


def extractive_summary(previous: str, transcript: Sequence[Mapping[str, str]]) -> str:
    """The previous summary followed by the first sentence of each customer message, keeping the most recent part
    when it grows past MAX_SUMMARY_CHARS."""
    points = [_shorten(_sentences(m["content"])[0], MAX_POINT_CHARS) for m in transcript if m.get("role") == "user"]
    parts = [" ".join(previous.split())] if previous.strip() else []
    if points := [point for point in points if point]:
        parts.append("The customer asked about: " + "; ".join(points) + ".")
    text = " ".join(parts) or "The customer has not asked anything yet."
    return text if len(text) <= MAX_SUMMARY_CHARS else "…" + text[-(MAX_SUMMARY_CHARS - 1) :]


def _suggestions(context: TurnContext, *, seed: str) -> list[str]:
    facts = context.customer
    safe = [pref for pref in facts.preferences if pref.strip() and not _contains_any(pref, facts.allergies)]
    sentences = []
    if safe:
        # Rotate through the preferences with the message, so different questions get different suggestions.
        first = zlib.crc32(seed.encode()) % len(safe)
        picks = [safe[first]] if len(safe) == 1 else [safe[first], safe[(first + 1) % len(safe)]]
        near = f" near {facts.home_area}" if facts.home_area.strip() else ""
        sentences.append(f"Going by what you enjoy, I'd suggest {' or '.join(picks)}{near}.")
    else:
        sentences.append("Tell me a little about what you like and I'll suggest something.")
    sentences.append(f"You have {format_money(max(facts.remaining_limit_minor, 0), facts.currency)} left this month.")
    if allergies := [a.strip() for a in facts.allergies if a.strip()]:
        sentences.append(f"I've left out anything with {' or '.join(allergies)}.")
    return sentences


def _contains_any(text: str, allergies: Sequence[str]) -> bool:
    lowered = text.lower()
    for allergy in allergies:
        term = allergy.strip().lower()
        stem = term[:-1] if term.endswith("s") and len(term) > 3 else term  # "peanuts" also rules out "peanut"
        if stem and stem in lowered:
            return True
    return False


def _topic(message: str) -> str:
    """The message's first question, else its first sentence."""
    sentences = _sentences(message)
    return next((s for s in sentences if s.endswith("?")), sentences[0])


def _sentences(text: str) -> list[str]:
    return _SENTENCE_END.split(" ".join(text.split()))


def _shorten(text: str, limit: int) -> str:
    """`text` without its closing punctuation, cut at a word boundary to at most `limit` characters."""
    text = text.rstrip(".!?\u3002\uff01\uff1f ")
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip() + "…"
