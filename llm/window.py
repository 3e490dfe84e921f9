"""The context of a model call: the reply window (system prompt plus the newest messages within the token budget),
when and what to fold into the rolling summary, and the payload of a session summary.

Pure functions. Stored messages carry their token count (counted once, when written), so assembling a window costs
the tokenizer one system prompt at most (none when the session's last turn had the same one), however long the
history.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from functools import lru_cache

from llm import prompts, tokens
from llm.answers import Grounds
from llm.conf import LLMSettings
from llm.data import Candidate, Message, Mood, TurnContext
from llm.errors import MessageTooLong
from llm.providers import ModelRequest, OfflineInput
from llm.store import RollingSummary

# What even an empty message costs (its overhead and role): bounds how many messages a budget can hold.
MIN_MESSAGE_TOKENS = tokens.TOKENS_PER_MESSAGE + 1
MAX_TAIL = 1000
# A fold also covers the older half of the window (at least this many messages), so that the next few turns find
# nothing unsummarized outside their window and make a single model call.
MIN_FOLD_AHEAD = 6
# Prompt text of a summary request (purpose "fold" or "summary"): what the answer may use (~150 words asked).
SUMMARY_MAX_TOKENS = 400


def message_budget(cfg: LLMSettings) -> int:
    """Tokens of a reply request left for the system prompt and the messages."""
    return cfg.context_budget - cfg.reply_reserve - tokens.REPLY_PRIMING


def tail_limit(budget: int) -> int:
    """The most messages a tail of `budget` tokens can hold."""
    return min(budget // MIN_MESSAGE_TOKENS + 1, MAX_TAIL)


# What a section may cost beyond its own text once joined into the prompt (a blank line, its block tags' edges).
SECTION_MARGIN = 2


def _today() -> date:
    return datetime.now(UTC).date()


@lru_cache(maxsize=256)
def _counted_system_prompt(prompt: str, model: str) -> int:
    # A session's turns mostly share one system prompt (mood and summary change now and then): tokenize it once.
    return tokens.count_message("system", prompt, model=model)


@lru_cache(maxsize=4096)
def _cost(text: str, model: str) -> int:
    """What a section of `text` adds to the system prompt, at most (an upper bound, for choosing what fits)."""
    return tokens.count_text(text, model=model) + SECTION_MARGIN


@dataclass(frozen=True, slots=True)
class Window:
    system_prompt: str
    messages: tuple[Message, ...]  # oldest first
    prompt_tokens: int  # the whole request as billed, from the stored counts
    offered: tuple[Candidate, ...] = ()  # the candidates the prompt's block holds (what a card may come from)

    @property
    def payload(self) -> tuple[dict[str, str], ...]:
        return ({"role": "system", "content": self.system_prompt}, *_transcript(self.messages))


@dataclass(frozen=True, slots=True)
class Prompt:
    """A turn's reply prompt: its sections built once (llm/prompts.py), then fitted to the token budget, before
    anything is stored (`tail_budget`) and once BEGIN has read the mood, the summary and the tail (`assemble`)."""

    context: TurnContext
    cfg: LLMSettings
    sections: prompts.Sections

    def bare(self, mood: Mood | None = None) -> tuple[str, int]:
        """The system prompt that always goes in, and its tokens: the rules and the customer's facts (allergies and
        diets included)."""
        text = self.sections.render(mood=mood, candidates=0, tastes=False, past=0)
        return text, _counted_system_prompt(text, self.cfg.model)

    def tail_budget(self, *, newest_tokens: int = 0) -> int:
        """Tokens the messages may use next to the bare system prompt (no mood, candidates, ratings, summaries).
        Raises MessageTooLong if a newest message of `newest_tokens` could never fit, before anything is stored or
        sent."""
        _, fixed = self.bare()
        budget = message_budget(self.cfg) - fixed
        if newest_tokens > budget:
            raise MessageTooLong(f"The message needs {newest_tokens} tokens; at most {max(budget, 0)} fit.")
        return budget

    def assemble(self, *, mood: Mood | None, summary: str, tail: Sequence[Message]) -> Window:
        """The system prompt and the newest messages of `tail` (oldest first) that fit the budget; the newest
        always.

        Beside the bare prompt (rules and the customer's facts, allergies and diets included) and the newest
        message, the rest of the budget goes, in this order, to: the mood, the candidates (best first), the
        recent-ratings line, the rolling summary, the older messages (newest first), the past-session summaries
        (newest first). What does not fit gives way in the reverse order: past sessions first (the oldest first),
        then the oldest messages, the summary, the ratings line, the lowest-ranked candidates, the mood.
        Everything stays stored. MessageTooLong if the newest message does not fit beside the bare prompt.
        """
        newest, model, parts = tail[-1], self.cfg.model, self.sections
        for mood_ in dict.fromkeys((mood, None)):  # the mood gives way last, counted exactly
            _, fixed = self.bare(mood_)
            room = message_budget(self.cfg) - fixed - newest.tokens
            if room >= 0:
                break
        else:
            raise MessageTooLong(f"The message needs {newest.tokens} tokens; at most {newest.tokens + room} fit.")
        offered = 0
        for line in parts.candidates:
            if (cost := _cost(line, model)) > room:
                break
            offered, room = offered + 1, room - cost
        tastes = False
        if parts.tastes and (cost := _cost(parts.tastes, model)) <= room:
            tastes, room = True, room - cost
        summary_ = ""
        if summary.strip() and (cost := _cost(prompts.summary_section(summary), model)) <= room:
            summary_, room = summary, room - cost
        start = len(tail) - 1
        while start > 0 and tail[start - 1].tokens <= room:
            start -= 1
            room -= tail[start].tokens
        past = 0
        for line in parts.past:
            if (cost := _cost(line, model) + (0 if past else _cost("<past_sessions>", model))) > room:
                break
            past, room = past + 1, room - cost
        while True:
            prompt = parts.render(mood=mood_, rolling_summary=summary_, candidates=offered, tastes=tastes, past=past)
            fixed = _counted_system_prompt(prompt, model)
            used = sum(message.tokens for message in tail[start:])
            if fixed + used <= message_budget(self.cfg) or (past == 0 and start == len(tail) - 1):
                break
            # The estimate fell short (joins can merge tokens differently): give way in the same order.
            if past:
                past -= 1
            else:
                start += 1
        offered_ = self.context.candidates[:offered]
        return Window(prompt, tuple(tail[start:]), fixed + used + tokens.REPLY_PRIMING, offered_)


def prompt(context: TurnContext, cfg: LLMSettings) -> Prompt:
    """The reply prompt of a turn of `context`, its sections built now."""
    return Prompt(context, cfg, prompts.sections(context, today=_today(), max_cards=cfg.recommendations_max))


def reply_request(
    context: TurnContext, cfg: LLMSettings, window: Window, mood: Mood | None
) -> tuple[ModelRequest, Grounds]:
    """The reply call, and what its reply is grounded in: the context with only the candidates the prompt offered
    (what a card may come from)."""
    offered = replace(context, candidates=window.offered)
    request = ModelRequest(
        messages=window.payload,
        purpose="reply",
        max_tokens=cfg.reply_reserve,
        offline=OfflineInput(context=offered, mood=mood.mood if mood else "", max_cards=cfg.recommendations_max),
    )
    return request, Grounds(offered, max_cards=cfg.recommendations_max)


def fold_range(
    *,
    window: Window,
    summary: RollingSummary,
    answering: int,
    stored: int,
    last_seq: int,
    stored_after: int,
    cap: int,
) -> tuple[int, int] | None:
    """The seqs (first, last) to fold into the rolling summary now, or None when no fold is due.

    Due when a message outside the window is not covered by the summary yet, or when the list would pass `cap`
    (`stored_after` messages once the reply is stored) and only folded messages may leave it. `answering` is the
    seq of the message being answered: it and what follows are never folded.
    """
    first_stored = last_seq - stored + 1
    start = max(summary.through + 1, first_stored)
    oldest = window.messages[0].seq
    due = max(oldest - 1, first_stored + (stored_after - cap) - 1)
    if due < start:
        return None
    ahead = oldest - 1 + max(len(window.messages) // 2, MIN_FOLD_AHEAD)
    return start, min(max(due, ahead), answering - 1)


def fold_request(
    context: TurnContext, cfg: LLMSettings, *, previous: str, messages: Sequence[Message]
) -> tuple[ModelRequest, int]:
    """The request folding the oldest of `messages` into the summary `previous`, within the budget, and the seq it
    folds through. The newest messages wait for the next fold if not all of them fit."""
    limit = cfg.context_budget - SUMMARY_MAX_TOKENS
    fixed = tokens.count_request(_fold_payload(context, previous, ()), model=cfg.model)
    used, end = 0, 0
    while end < len(messages) and (end == 0 or fixed + used + messages[end].tokens <= limit):
        used += messages[end].tokens
        end += 1
    transcript = _transcript(messages[:end])
    payload = _fold_payload(context, previous, transcript)
    while end > 1 and tokens.count_request(payload, model=cfg.model) > limit:
        end -= 1
        transcript = transcript[:end]
        payload = _fold_payload(context, previous, transcript)
    request = ModelRequest(
        messages=payload,
        purpose="fold",
        max_tokens=SUMMARY_MAX_TOKENS,
        offline=OfflineInput(context=context, transcript=transcript, previous_summary=previous),
    )
    return request, messages[end - 1].seq


def summary_request(
    context: TurnContext, cfg: LLMSettings, *, rolling_summary: str, messages: Sequence[Message]
) -> ModelRequest:
    """The request summarizing a whole session: the rolling summary and the newest messages that fit the budget."""
    limit = cfg.context_budget - SUMMARY_MAX_TOKENS
    used = tokens.count_request(_summary_payload(context, rolling_summary, ()), model=cfg.model)
    start = len(messages)
    while start > 0 and used + messages[start - 1].tokens <= limit:
        start -= 1
        used += messages[start].tokens
    transcript = _transcript(messages[start:])
    return ModelRequest(
        messages=_summary_payload(context, rolling_summary, transcript),
        purpose="summary",
        max_tokens=SUMMARY_MAX_TOKENS,
        offline=OfflineInput(context=context, transcript=transcript, previous_summary=rolling_summary),
    )


def _transcript(messages: Sequence[Message]) -> tuple[dict[str, str], ...]:
    return tuple({"role": m.role, "content": m.content} for m in messages)


def _fold_payload(
    context: TurnContext, previous: str, transcript: Sequence[dict[str, str]]
) -> tuple[dict[str, str], ...]:
    language = context.customer.preferred_language
    return prompts.fold_messages(previous_summary=previous, transcript=transcript, language=language)


def _summary_payload(
    context: TurnContext, rolling_summary: str, transcript: Sequence[dict[str, str]]
) -> tuple[dict[str, str], ...]:
    language = context.customer.preferred_language
    return prompts.summary_messages(
        transcript=transcript,
        rolling_summary=rolling_summary,
        language=language,
        recommended=context.recommended,
        stated=prompts.stated_line(context),
    )
