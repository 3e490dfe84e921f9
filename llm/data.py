"""Plain data crossing the llm boundary: what callers pass in and what llm returns.

`llm` never imports `customers`: callers translate their own records into these input types.
"""

from dataclasses import dataclass, field
from datetime import datetime

MOODS = ("happy", "excited", "calm", "neutral", "tired", "sad", "anxious", "stressed", "angry")
ROLES = ("user", "assistant")
# How a mood was set: "user", by the customer; "inferred", from the conversation by the model.
MOOD_SOURCES = ("user", "inferred")
USAGE_SOURCES = ("server", "counted")  # see `Usage.source`


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
    remaining_limit_minor: int  # what is left of the monthly limit, as the caller computes it: never negative
    preferences: tuple[str, ...]
    allergies: tuple[str, ...]  # allergen codes
    diets: tuple[str, ...] = ()  # diet codes
    dietary_notes: tuple[str, ...] = ()  # restrictions no code covers

    @property
    def korean(self) -> bool:
        """Whether replies to the customer are in Korean (else English)."""
        return self.preferred_language.strip().lower().startswith("ko")


@dataclass(frozen=True, slots=True)
class Constraints:
    """What the customer stated in the session, kept with its conversation state: allergen and diet codes, a price
    cap in minor units of their currency, tags ruled out, the kinds asked for (empty: no such rule)."""

    allergens: tuple[str, ...] = ()
    diets: tuple[str, ...] = ()
    max_price: int | None = None
    exclude_tags: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()

    def tightened(self, more: "Constraints") -> "Constraints":
        """These with the rules of `more` added: codes and tags united, the lower cap kept, stated kinds replacing
        the earlier ones (what is asked for). As the store's merge does it (llm/store/lua/prelude.lua)."""
        return Constraints(
            allergens=tuple(dict.fromkeys((*self.allergens, *more.allergens))),
            diets=tuple(dict.fromkeys((*self.diets, *more.diets))),
            max_price=min((cap for cap in (self.max_price, more.max_price) if cap is not None), default=None),
            exclude_tags=tuple(dict.fromkeys((*self.exclude_tags, *more.exclude_tags))),
            kinds=more.kinds or self.kinds,
        )


NO_CONSTRAINTS = Constraints()


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The codes a rule may name (the caller's vocabulary): what the model's `noted` is validated against."""

    allergens: tuple[str, ...] = ()
    diets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PastSummary:
    title: str
    ended_at: datetime
    summary: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """A catalog item the caller offers the model this turn (it already meets the customer's hard rules); money in
    minor units of `currency`, `price_minor` None when it costs nothing. `allergens` None: not declared (unknown,
    never "free of"); `mentions`: the allergens its own text mentions; `dishes`: a restaurant's dishes that meet the
    customer's rules (external ids)."""

    external_id: str
    kind: str
    name: str
    area: str
    price_minor: int | None
    currency: str
    tags: tuple[str, ...] = ()
    allergens: tuple[str, ...] | None = None
    diets: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    dishes: tuple[str, ...] = ()
    food: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True)
class RecommendedItem:
    """An item recommended in the session, and the customer's rating of it ("up", "down" or "" when unrated)."""

    name: str
    rating: str = ""


@dataclass(frozen=True, slots=True)
class TurnContext:
    """Everything a turn needs besides the conversation itself. `customer_id` keys quotas only.

    `candidates` are the catalog items offered this turn, best first (possibly none); `avoid_names` the names of
    items near the request that the reply must never name (excluded for this customer); `liked` and `disliked` the
    names of items the customer rated lately; `recommended` what the session recommended, for its summary.

    The rules a proposal must meet are the profile's (`customer`) and the session's (`constraints`); `rules()`
    gives them merged.
    """

    customer_id: int
    customer: CustomerFacts
    past_summaries: tuple[PastSummary, ...] = ()
    candidates: tuple[Candidate, ...] = ()
    avoid_names: tuple[str, ...] = ()
    liked: tuple[str, ...] = ()
    disliked: tuple[str, ...] = ()
    recommended: tuple[RecommendedItem, ...] = ()
    # The session's constraints with what the message states (they bound the candidates, and bind the proposals),
    # what the message itself states (kept with the session by the turn's BEGIN), whether it asks for anything,
    # and the codes a model's `noted` may name.
    constraints: Constraints = NO_CONSTRAINTS
    stated: Constraints = NO_CONSTRAINTS
    asks: bool = True
    vocabulary: Vocabulary = Vocabulary()
    # The allergies and diets awaiting the customer's confirmation in their profile (stated in this or another
    # session): they bind like the profile's, and the reply says they are treated so until the customer decides.
    pending: Constraints = NO_CONSTRAINTS

    def rules(self) -> Constraints:
        """The profile's allergies and diets, the pending ones and the session's constraints: what a card is checked
        against."""
        profile = Constraints(allergens=self.customer.allergies, diets=self.customer.diets)
        return profile.tightened(self.pending).tightened(self.constraints)


# --- outputs ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CardItem:
    external_id: str
    kind: str
    name: str
    area: str
    price: int | None = field(metadata={"help_text": "Minor units of `currency`; null: free."})
    currency: str
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Checks:
    """The receipt of what was verified for a card, against what the catalog declares (never against unknown data:
    an item whose allergens are not declared lists none checked)."""

    allergens: tuple[str, ...] = field(
        metadata={
            "help_text": "The customer's allergen codes checked against the item's declared allergens: none is in it "
            "(empty when the item declares none: not checked)."
        }
    )
    diets: tuple[str, ...] = field(metadata={"help_text": "The customer's diet codes satisfied."})
    budget_remaining: int = field(metadata={"help_text": "The remaining monthly limit the price was checked against."})
    unverified: tuple[str, ...] = field(
        metadata={"help_text": "The customer's dietary notes that no code covers (not checked)."}
    )
    max_price: int | None = field(
        default=None,
        metadata={"help_text": "The cap the customer stated that the price was checked against; null: none."},
    )
    dishes: tuple[str, ...] = field(
        default=(),
        metadata={
            "help_text": "A restaurant's dishes (external ids) that passed the same checks; empty for any other item."
        },
    )


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
    role: str  # one of ROLES
    content: str
    tokens: int
    created_at: datetime
    interrupted: bool = False
    recommendations: tuple[Card, ...] = ()  # an assistant message's cards


@dataclass(frozen=True, slots=True)
class Mood:
    mood: str = field(metadata={"choices": MOODS})
    source: str = field(metadata={"choices": MOOD_SOURCES})
    set_at: datetime


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    source: str = field(
        metadata={
            "choices": USAGE_SOURCES,
            "help_text": "How the counts were obtained: `server`, as the model server reported them; `counted`, with "
            "the tokenizer here (the offline provider, a server that sent no usage, a reply cut short).",
        }
    )


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
    constraints: Constraints = NO_CONSTRAINTS  # the session's after the turn (what it and the model stated added)
    # A replay whose original answer could not be recorded (`llm.services.turn_recording_owed`): this replay, and no
    # other, owes the recording.
    recording_owed: bool = False

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
    constraints: Constraints = NO_CONSTRAINTS


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
