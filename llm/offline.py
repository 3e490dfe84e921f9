"""The offline provider: deterministic answers built from the request itself, with no model and no network.

It lets the quick start and the test suite run without any endpoint; every turn it answers says `provider: offline`.
It answers from `ModelRequest.offline` (an `OfflineInput`), never from the payload a model reads. Replies are
grounded: in the customer's preferred language (Korean or English), they greet the customer, acknowledge their
mood, say which rules the message stated, propose those of the top candidates of the turn's block that the checks
keep (llm/grounding.py; the turn grounds the answer as it grounds a model's, llm/answers.py), say which of them
declare no allergens ("allergens not declared": only a customer with no allergy is shown one) and mention the
remaining budget, or say plainly that nothing fits and which rules ruled it out. A message that asks for nothing
gets no card. The request itself is never quoted back. Fold and summary answers are extractive (the first sentence
of each customer message, what was recommended and how it was rated, and the rules the customer stated). Allergies
and diets awaiting the customer's confirmation in their profile are said to be treated as such ("I'll treat sesame
as an allergy; confirm it in your profile").
"""

import asyncio
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from llm import grounding
from llm import rules as rule_words
from llm.candidates import ALLERGENS_NOT_DECLARED
from llm.conf import LLMSettings, get_settings
from llm.data import NO_CONSTRAINTS, Card, RecommendedItem, TurnContext
from llm.prompts import format_money, stated_line
from llm.providers import Completion, ModelRequest, OfflineInput, ReplyHead, counted_usage

MAX_SUMMARY_CHARS = 600
MAX_POINT_CHARS = 80  # one customer message's first sentence, in a summary
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
_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s")  # also the ideographic and full-width marks
_WORD = re.compile(r"\S+\s*")


class OfflineProvider:
    """Answers from the request's context, deterministically: the same request always gets the same answer."""

    name = "offline"

    def __init__(self, cfg: LLMSettings | None = None) -> None:
        self._model = (cfg or get_settings()).model

    def complete(self, request: ModelRequest) -> Completion:
        """The whole answer, from `request.offline`. Usage is counted with the configured model's tokenizer, as a
        real call would bill."""
        given = request.offline
        head = None
        if request.purpose == "reply":
            text, mood, head = _reply(request.messages, given)
        else:
            given = given or OfflineInput()
            text, mood = extractive_summary(given.previous_summary, given.transcript), None
            if request.purpose == "summary" and given.context and given.context.recommended:
                text = f"{text} {recommended_sentence(given.context.recommended)}"
            if request.purpose == "summary" and given.context and (stated := stated_line(given.context)):
                text = f"{text} Stated in this session: {stated}."
        usage = counted_usage(request.messages, text, model=self._model)
        return Completion(text=text, mood=mood, usage=usage, finish_reason="stop", head=head)

    async def astream(self, request: ModelRequest) -> AsyncIterator[str | ReplyHead | Completion]:
        """The answer in deltas of a few words each (a reply's ReplyHead first), then the Completion."""
        completion = self.complete(request)
        if request.purpose == "reply":
            yield ReplyHead(completion.head)
        words = _WORD.findall(completion.text)
        for start in range(0, len(words), WORDS_PER_DELTA):
            yield "".join(words[start : start + WORDS_PER_DELTA])
            await asyncio.sleep(0)  # let other tasks run between deltas, as network reads would
        yield completion


def _reply(
    messages: Sequence[Mapping[str, str]], given: OfflineInput | None
) -> tuple[str, str | None, dict[str, Any] | None]:
    """The offline reply to the last user message of `messages`, the mood inferred from it (or None), and its
    structured members: the top candidates proposed, those the turn's checks would keep (the offline provider
    proposes as a careful model would; the turn checks them all the same, llm/answers.py)."""
    message = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    inferred = infer_mood(message)
    if given is None or given.context is None:
        return "Hi! Tell me what you like. (Offline demo reply.)", inferred, None
    context, mood = given.context, inferred or given.mood
    picks = context.candidates[: given.max_cards]
    proposals = [{"item_id": c.external_id, "reason": _reason(c, context)} for c in picks]
    cards, _ = grounding.check(context, proposals, max_cards=given.max_cards)
    kept = {card.item.external_id for card in cards}
    text = _reply_text(context, mood, cards)
    if not cards and context.asks:
        # Built from the rules alone (codes, caps, tags), never from an item.
        text = _before_label(text, rule_words.nothing_fits(context, money=format_money))
    return text, inferred, {"recommendations": [p for p in proposals if p["item_id"] in kept]}


def _reply_text(context: TurnContext, mood: str, cards: Sequence[Card]) -> str:
    facts = context.customer
    korean = facts.korean
    budget = format_money(facts.remaining_limit_minor, facts.currency)
    parts = [_say("greeting", korean, name=facts.display_name)]
    if mood and (sentence := _say(f"mood_{mood}", korean)):
        parts.append(sentence)
    if context.stated != NO_CONSTRAINTS:
        said = replace(context, customer=replace(facts, allergies=(), diets=()), constraints=context.stated)
        parts.append(_say("noted", korean, rules=rule_words.rules_named(said, money=format_money, budget=False)))
    if sentence := _pending_sentence(context, korean):
        parts.append(sentence)
    if cards:
        parts.append(_say("picks", korean, names=", ".join(card.item.name for card in cards)))
        if undeclared := _allergens_not_declared(context, cards):
            parts.append(_say("undeclared", korean, names=", ".join(undeclared)))
        parts.append(_say("budget", korean, budget=budget))
    elif not context.asks:
        parts.append(_say("nothing_asked", korean))
    parts.append(_say("label", korean))
    return " ".join(parts)


def _pending_sentence(context: TurnContext, korean: bool) -> str:
    """That the allergies and diets awaiting the customer's confirmation are treated as such meanwhile; "" if none."""
    pending, facts = context.pending, []
    if pending.allergens:
        facts.append(_say("pending_allergies", korean, codes=", ".join(c.replace("_", " ") for c in pending.allergens)))
    if pending.diets:
        words = ", ".join(rule_words.diet_word(code, korean=korean) for code in pending.diets)
        facts.append(_say("pending_diets", korean, codes=words))
    return _say("pending", korean, facts=" / ".join(facts) if korean else " and ".join(facts)) if facts else ""


def _say(key: str, korean: bool, /, **fields: str) -> str:
    """The sentence `key` of _SENTENCES in Korean or English, with `fields` filled in."""
    english, in_korean = _SENTENCES[key]
    return (in_korean if korean else english).format(**fields)


def _before_label(text: str, sentence: str) -> str:
    """`text` with `sentence` put before its closing label (the last parenthesis)."""
    head, _, label = text.rpartition(" (")
    return f"{head} {sentence} ({label}" if head else f"{sentence} {text}"


def _allergens_not_declared(context: TurnContext, cards: Sequence[Card]) -> list[str]:
    """The names of the food cards whose allergens the catalog does not declare (only a customer with no allergy
    is ever shown one)."""
    unknown = {c.external_id for c in context.candidates if c.food and c.allergens is None}
    return [card.item.name for card in cards if card.item.external_id in unknown]


def _reason(candidate, context: TurnContext) -> str:
    tags = ", ".join(candidate.tags[:2])
    if context.customer.korean:
        return f"{candidate.area} · {tags}" if tags else grounding.neutral_reason(korean=True)
    return f"{tags} in {candidate.area}" if tags and candidate.area else grounding.neutral_reason(korean=False)


def recommended_sentence(recommended: Sequence[RecommendedItem]) -> str:
    """What the session recommended and how it was rated, for its summary."""
    parts = [f"{item.name} ({item.rating or 'not rated'})" for item in recommended[:10]]
    return "Recommended: " + "; ".join(parts) + "."


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


def _sentences(text: str) -> list[str]:
    return _SENTENCE_END.split(" ".join(text.split()))


def _shorten(text: str, limit: int) -> str:
    """`text` without its closing punctuation, cut at a word boundary to at most `limit` characters."""
    text = text.rstrip(".!?\u3002\uff01\uff1f ")
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip() + "…"


# Each sentence of the offline reply, in English and in Korean side by side, in the order a reply says them (mood_*:
# what it says of each mood).
_SENTENCES: dict[str, tuple[str, str]] = {
    "greeting": ("Hi {name}!", "{name}님, 안녕하세요!"),
    "mood_tired": ("Sorry you're tired, so I'll keep it easy.", "피곤하시군요. 편하게 즐길 수 있는 걸로 골랐어요."),
    "mood_stressed": (
        "That sounds stressful, so let's keep it low-effort.",
        "스트레스가 많으시군요. 부담 없는 걸로 골랐어요.",
    ),
    "mood_anxious": ("Let's keep things simple and reassuring.", "걱정이 많으시군요. 마음 편한 걸로 골랐어요."),
    "mood_angry": (
        "That sounds frustrating; let's find something that helps you unwind.",
        "속상하셨겠어요. 기분 전환이 될 만한 걸로 골랐어요.",
    ),
    "mood_sad": (
        "Sorry you're feeling down; something comforting might help.",
        "마음이 가라앉으셨군요. 위로가 될 만한 걸로 골랐어요.",
    ),
    "mood_excited": ("Love the excitement!", "신나는 기분이 느껴져요!"),
    "mood_happy": ("Glad you're in a good mood!", "기분이 좋으시다니 반가워요!"),
    "mood_calm": ("Nice and calm, then.", "차분한 하루네요."),
    "mood_neutral": ("", ""),
    "noted": ("Noted for this conversation: {rules}.", "이번 대화에서 지킬게요: {rules}."),
    "pending": ("I'll treat {facts}; confirm it in your profile.", "{facts}(으)로 여길게요. 프로필에서 확인해 주세요."),
    "pending_allergies": ("{codes} as an allergy", "{codes}: 알레르기"),
    "pending_diets": ("{codes} as your diet", "{codes}: 식단"),
    "picks": ("My picks: {names}.", "추천드려요: {names}."),
    "undeclared": (
        f"{ALLERGENS_NOT_DECLARED.capitalize()} for: {{names}}.",
        f"알레르기 성분이 표시되지 않은 곳({ALLERGENS_NOT_DECLARED}): {{names}}.",
    ),
    "budget": ("You have {budget} left this month.", "이번 달 남은 예산은 {budget}이에요."),
    "nothing_asked": ("Tell me whenever you'd like a recommendation.", "추천이 필요하시면 언제든 말씀해 주세요."),
    "label": ("(Offline demo reply.)", "(오프라인 데모 답변)"),
}
