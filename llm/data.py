"""Plain data crossing the llm boundary: what callers pass in and what llm returns.

`llm` never imports `customers`: callers translate their own records into these input types.
"""

from dataclasses import dataclass, field
from datetime import datetime

MOODS = ("happy", "excited", "calm", "neutral", "tired", "sad", "anxious", "stressed", "angry")
# How a call's token counts were obtained: "server", as the model server reported them; "counted", here with the
# tokenizer (the offline provider, a server that sent no usage, a reply cut short).
USAGE_SOURCES = ("server", "counted")


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
class Candidate:
    """A catalog item the caller offers the model this turn (it already meets the customer's hard rules); money in
    minor units of `currency`, `price_minor` None when it costs nothing."""

    external_id: str
    kind: str
    name: str
    area: str
    price_minor: int | None
    currency: str
    tags: tuple[str, ...] = ()
    allergens: tuple[str, ...] = ()
    diets: tuple[str, ...] = ()
    food: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True)
class ShownItem:
    """An item recommended in the session, and the customer's rating of it ("up", "down" or "" when unrated)."""

    name: str
    rating: str = ""


@dataclass(frozen=True, slots=True)
class TurnContext:
    """Everything a turn needs besides the conversation itself. `customer_id` keys quotas only.

    `candidates` are the catalog items offered this turn, best first (possibly none); `avoid_names` the names of
    items near the request that the reply must never name (excluded for this customer); `liked` and `disliked` the
    names of items the customer rated lately; `shown` what the session recommended, for its summary.
    """

    customer_id: int
    customer: CustomerFacts
    past_summaries: tuple[PastSummary, ...] = ()
    candidates: tuple[Candidate, ...] = ()
    avoid_names: tuple[str, ...] = ()
    liked: tuple[str, ...] = ()
    disliked: tuple[str, ...] = ()
    shown: tuple[ShownItem, ...] = ()


# --- outputs ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CardItem:
    external_id: str
    kind: str
    name: str
    area: str
    price: int | None  # minor units of `currency`; None: free
    currency: str
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Checks:
    """The receipt of what was verified for a card."""

    allergens: tuple[str, ...]  # the customer's allergen codes checked; none is present in the item
    diets: tuple[str, ...]  # the customer's diet codes the item satisfies
    budget_remaining: int  # the remaining monthly limit the price was checked against
    unverified: tuple[str, ...]  # the customer's dietary notes that no code covers


@dataclass(frozen=True, slots=True)
class Card:
    """A recommendation that passed every check: `id` is the uuid of its recommendation row."""

    id: str
    item: CardItem
    reason: str
    checks: Checks


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    seq: int
    role: str  # "user" | "assistant"
    content: str
    tokens: int
    created_at: datetime
    interrupted: bool = False
    recommendations: tuple[Card, ...] = ()  # an assistant message's cards


@dataclass(frozen=True, slots=True)
class Mood:
    mood: str
    source: str  # "user" | "inferred"
    set_at: datetime


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    source: str  # one of USAGE_SOURCES


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

    @property
    def recommendations(self) -> tuple[Card, ...]:
        """The reply's cards (they are stored with the assistant message)."""
        return self.assistant_message.recommendations


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
