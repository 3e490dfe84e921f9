"""The model seen from inside `llm`: one request shape, two providers (an OpenAI-compatible endpoint, or the
deterministic offline provider), selected by settings.

Implementations live in llm/client.py (openai) and llm/offline.py.
"""

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from llm import tokens
from llm.conf import get_settings
from llm.data import NO_CONSTRAINTS, Card, Constraints, TurnContext, Usage

Purpose = Literal["reply", "fold", "summary"]


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One model call. `messages` is the exact chat payload ({role, content} dicts, system prompt first).

    `context`, `mood`, `transcript` and `previous_summary` ride along for the offline provider, which answers from
    them instead of a model (the payload in `messages` already holds them for a real one).
    `purpose` "reply" asks for structured output {mood, recommendations, reply}; "fold" and "summary" ask for plain
    text. `max_cards` bounds the cards of a reply (RECOMMENDATIONS_MAX).
    """

    messages: tuple[dict[str, str], ...]
    purpose: Purpose
    max_tokens: int
    context: TurnContext | None = None
    mood: str = ""
    transcript: tuple[dict[str, str], ...] = field(default=())  # fold/summary: the messages to condense
    previous_summary: str = ""  # fold/summary: the rolling summary of messages folded earlier
    max_cards: int = 3


@dataclass(frozen=True, slots=True)
class Completion:
    text: str  # the reply (for purpose "reply", already extracted from the structured output)
    mood: str | None  # inferred mood, one of data.MOODS, or None
    usage: Usage
    finish_reason: str
    cards: tuple[Card, ...] = ()  # purpose "reply": the proposals that passed every check (llm/grounding.py)
    noted: Constraints = NO_CONSTRAINTS  # purpose "reply": what the model noted that tightens the rules (validated)
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

    def astream(self, request: ModelRequest) -> AsyncIterator[str | Completion]:
        """Yield reply text deltas as produced, then exactly one Completion. Raises only llm.errors types."""
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
