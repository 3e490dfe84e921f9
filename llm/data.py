"""Plain data crossing the llm boundary: what callers pass in and what llm returns.

`llm` never imports `customers`: callers translate their own records into these input types.
"""

from dataclasses import dataclass, field
from datetime import datetime

MOODS = ("happy", "excited", "calm", "neutral", "tired", "sad", "anxious", "stressed", "angry")


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    detail: str


# --- inputs -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    """What the prompt may say about the customer; money in minor units of `currency`."""

    display_name: str
    birth_year: int | None
    home_area: str
    preferred_language: str
    currency: str
    monthly_limit_minor: int
    remaining_limit_minor: int
    preferences: tuple[str, ...]
    allergies: tuple[str, ...]  # allergen codes
    diets: tuple[str, ...] = ()  # diet codes
    dietary_notes: tuple[str, ...] = ()  # restrictions no code covers


@dataclass(frozen=True, slots=True)
class PastSummary:
    title: str
    ended_at: datetime
    summary: str


@dataclass(frozen=True, slots=True)
class TurnContext:
    """Everything a turn needs besides the conversation itself. `customer_id` keys quotas only."""

    customer_id: int
    customer: CustomerFacts
    past_summaries: tuple[PastSummary, ...] = ()


# --- outputs ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    seq: int
    role: str  # "user" | "assistant"
    content: str
    tokens: int
    created_at: datetime
    interrupted: bool = False


@dataclass(frozen=True, slots=True)
class Mood:
    mood: str
    source: str  # "user" | "inferred"
    set_at: datetime


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class Turn:
    user_message: Message
    assistant_message: Message
    mood: Mood | None
    usage: Usage
    provider: str  # "openai" | "offline"
    replayed: bool = False  # True when answered from an earlier request with the same Idempotency-Key
    # Messages the turn added to the history: 2 for a new exchange; 1 when it answered a message stored earlier
    # (a regenerate after a failed reply, or the retry of a failed turn with its Idempotency-Key); 0 when it
    # replaced a reply. A replay carries the original turn's (it added nothing itself: see `replayed`).
    messages_added: int = 0


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of the reply text, as the model produced it."""

    text: str


@dataclass(frozen=True, slots=True)
class Conversation:
    """A session's live state in Redis."""

    messages: tuple[Message, ...]
    mood: Mood | None
    rolling_summary: str


@dataclass(frozen=True, slots=True)
class SessionSummary:
    text: str
    final_mood: str  # "" when no mood was ever set or inferred
    provider: str


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of `llm_check`: each step with its verdict."""

    ok: bool
    provider: str
    model: str
    steps: tuple[tuple[str, bool, str], ...] = field(default=())
