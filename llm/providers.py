"""The model seen from inside `llm`: one request shape, two providers (an OpenAI-compatible endpoint, or the
deterministic offline provider), selected by settings.

Implementations live in llm/client.py (openai) and llm/offline.py.
"""

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from llm import tokens
from llm.conf import get_settings
from llm.data import TurnContext, Usage

Purpose = Literal["reply", "fold", "summary"]
PAST_DEADLINE = "the turn did not finish within TURN_DEADLINE_SECONDS"  # LLMTimeout's detail at a deadline


@dataclass(frozen=True, slots=True)
class OfflineInput:
    """What the offline provider answers from instead of a model (a model reads the same in the request's
    `messages`): the turn's context (for a reply, only the candidates the prompt offered), the session's mood, and
    for a fold or a summary the messages to condense and the rolling summary of those folded earlier."""

    context: TurnContext | None = None
    mood: str = ""
    transcript: tuple[dict[str, str], ...] = field(default=())
    previous_summary: str = ""
    max_cards: int = 3  # RECOMMENDATIONS_MAX: how many candidates it proposes


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One model call. `messages` is the exact chat payload ({role, content} dicts, system prompt first).

    `purpose` "reply" asks for structured output {mood, noted, recommendations, reply}; "fold" and "summary" ask
    for plain text. `offline` is the offline provider's input (a model ignores it). `deadline` (time.monotonic):
    a sync call's tries end by then, with LLMTimeout (a turn's deadline; an async call is cancelled at it instead).
    """

    messages: tuple[dict[str, str], ...]
    purpose: Purpose
    max_tokens: int
    offline: OfflineInput | None = None
    deadline: float | None = None


@dataclass(frozen=True, slots=True)
class ReplyHead:
    """In a stream, before the reply's first text: the structured reply's members before "reply" (its mood, noted
    rules and proposals; None for a plain-text answer), so the turn decides its cards before any text is shown."""

    members: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Completion:
    """What a provider produced: text, never checked (the turn grounds a reply, llm/answers.py)."""

    text: str  # the reply (for purpose "reply", already read out of the structured output)
    mood: str | None  # inferred mood, one of data.MOODS, or None
    usage: Usage
    finish_reason: str
    # Purpose "reply": the members before "reply" (None: a plain-text answer); what the turn grounds.
    head: dict[str, Any] | None = None
    # Purpose "reply" from a model: whether its answer was a JSON object of the reply's schema (llm/structured.py);
    # None for other purposes and for the offline provider.
    schema_valid: bool | None = None


def counted_usage(messages: Sequence[dict[str, str]], text: str, *, model: str) -> Usage:
    """The usage of answering `messages` with `text`, counted with `model`'s tokenizer the way OpenAI bills."""
    return Usage(
        prompt_tokens=tokens.count_request(tuple(messages), model=model),
        completion_tokens=tokens.count_text(text, model=model),
        source="counted",
    )


class Provider(Protocol):
    name: str

    def complete(self, request: ModelRequest) -> Completion:
        """Answer in one piece. Raises only llm.errors types."""
        ...

    def astream(self, request: ModelRequest) -> AsyncIterator[str | ReplyHead | Completion]:
        """Yield reply text deltas as produced (a reply's ReplyHead before its first one), then exactly one
        Completion. Raises only llm.errors types."""
        ...


def get_provider() -> Provider:
    """The provider for the current settings: `openai` when a key or base URL is set, else `offline`."""
    cfg = get_settings()
    # Imported here: the offline quick start never loads the openai SDK, and both modules import this one.
    if cfg.provider == "openai":
        from llm.client import OpenAIProvider

        return OpenAIProvider(cfg)
    from llm.offline import OfflineProvider

    return OfflineProvider(cfg)
