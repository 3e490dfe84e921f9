"""Plain data returned by `customers.services`: frozen dataclasses, never model instances or querysets."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class ApiUser:
    """Who a valid API token belongs to: enough to authorize a request without touching the database again."""

    user_id: int
    customer_id: int | None
    is_staff: bool


@dataclass(frozen=True, slots=True)
class CustomerProfile:
    """A customer's profile: what `GET /api/v1/me` shows (every field, in this order) and what a prompt may see of
    the customer (chat picks those facts out). Money in integer minor units of `currency`."""

    customer_id: int
    username: str
    display_name: str
    birth_year: int | None
    home_area: str
    preferred_language: str
    currency: str
    monthly_limit_minor: int = field(metadata={"help_text": "In minor units of `currency`."})
    spent_this_month_minor: int
    remaining_limit_minor: int
    preferences: tuple[str, ...]
    allergies: tuple[str, ...] = field(metadata={"help_text": "Allergen codes."})
    diets: tuple[str, ...] = field(metadata={"help_text": "Diet codes."})
    dietary_notes: tuple[str, ...] = field(metadata={"help_text": "Restrictions that no code covers (unverified)."})
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ProfileProposal:
    """An allergy or diet the customer stated in a session, pending their confirmation (it binds meanwhile)."""

    proposal_id: UUID
    kind: str  # "allergy" | "diet"
    code: str
    session_id: UUID | None  # None once that session is deleted
    stated_at: datetime


@dataclass(frozen=True, slots=True)
class CustomerMe:
    """What `GET /api/v1/me` shows: the profile and the pending proposals, oldest first."""

    profile: CustomerProfile
    proposals: tuple[ProfileProposal, ...]


@dataclass(frozen=True, slots=True)
class SessionAccess:
    """The cached facts needed on every turn: who owns a session and whether it is still open."""

    session_id: UUID
    customer_id: int
    status: str  # "open" | "ended"


@dataclass(frozen=True, slots=True)
class SessionInfo:
    session_id: UUID
    customer_id: int
    status: str  # "open" | "ended"
    title: str
    created_at: datetime
    last_activity_at: datetime
    ended_at: datetime | None
    message_count: int
    prompt_tokens: int
    completion_tokens: int
    final_mood: str
    summary: str


@dataclass(frozen=True, slots=True)
class SessionPage:
    count: int
    results: tuple[SessionInfo, ...]


@dataclass(frozen=True, slots=True)
class PastSessionSummary:
    session_id: UUID
    title: str
    ended_at: datetime
    summary: str


@dataclass(frozen=True, slots=True)
class TurnFacts:
    """What one chat turn reads of `customers`, in one cache round trip: the open session's owner, their profile
    and the summaries of their latest ended sessions (newest first, the turn's own session excluded)."""

    access: SessionAccess
    profile: CustomerProfile
    past_summaries: tuple[PastSessionSummary, ...]


@dataclass(frozen=True, slots=True)
class DemoCustomer:
    """A seeded demo customer and the API token to call the API as them."""

    username: str
    display_name: str
    customer_id: int
    token: str


@dataclass(frozen=True, slots=True)
class ArchivedMessage:
    """One message of an ended session's archived transcript (see `session_transcript_archive`)."""

    id: str
    seq: int
    role: str  # "user" | "assistant"
    content: str
    tokens: int
    created_at: datetime
    interrupted: bool = False
    # An assistant message's cards, as JSON objects in the shape the conversation store gives them: kept as given.
    recommendations: tuple[dict[str, Any], ...] = ()


# --- catalog and recommendations --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Constraints:
    """What a customer stated in a session (allergen and diet codes, a price cap in minor units of their currency,
    tags ruled out, the kinds asked for; empty: no such rule). The shape of `constraints` in the API."""

    allergens: tuple[str, ...] = ()
    diets: tuple[str, ...] = ()
    max_price: int | None = None
    exclude_tags: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()


NO_CONSTRAINTS = Constraints()


@dataclass(frozen=True, slots=True)
class StatedRequest:
    """What one message states (`customers/catalog/stated.py`, `read`): the constraints, whether it asks for anything
    at all (a greeting, thanks or small talk does not), and the text left to search once every statement and amount
    is taken out."""

    constraints: Constraints
    asks: bool
    query: str
    explicit: bool = False  # it asks in so many words ("recommend", "where", "뭐 먹지"), not only by naming things
    # The kinds the turn ranks alone when the message states none: food for a meal ("lunch?", "뭐 먹지"), a place or
    # an activity for a walk or things to do, a product for a gift. A hint for this turn, never a constraint.
    looks_for: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Candidate:
    """A catalog item that meets every hard rule of the customer it was searched for, with its ranking score.

    `price_minor` is None for an item that charges nothing (a park); `allergens` None when the item declares none
    (unknown: not "free of"); `mentions` the allergens its own text mentions; `dishes` a restaurant's dishes that
    meet the customer's rules (empty for any other item, and for a restaurant with none listed); `description` is
    cut to fit a prompt.
    """

    external_id: str
    kind: str
    name: str
    area: str
    price_minor: int | None
    currency: str
    tags: tuple[str, ...]
    allergens: tuple[str, ...] | None
    diets: tuple[str, ...]
    mentions: tuple[str, ...]
    dishes: tuple[str, ...]
    food: bool
    description: str
    score: float


@dataclass(frozen=True, slots=True)
class CatalogImportWarning:
    """A row whose name, description or tags mention allergens its `allergens` list does not declare (they bind
    all the same: the item is never a candidate for a customer allergic to one)."""

    row: int  # 1-based
    external_id: str
    undeclared: tuple[str, ...]  # allergen codes

    def __str__(self) -> str:
        return (
            f"row {self.row} ({self.external_id}): its text mentions {', '.join(self.undeclared)}, "
            "which `allergens` does not declare"
        )


@dataclass(frozen=True, slots=True)
class CatalogImportResult:
    created: int
    updated: int
    unchanged: int
    deactivated: int
    warnings: tuple[CatalogImportWarning, ...] = ()


@dataclass(frozen=True, slots=True)
class SpendingImportResult:
    updated: int  # customers whose spending (and its month) the file changed
    unchanged: int  # customers whose spending was already the file's
    superseded: int  # rows of a month older than the customer's latest (in the file or stored): not written


@dataclass(frozen=True, slots=True)
class RecommendationInfo:
    """A catalog item shown to a customer, and their rating of it (None until rated)."""

    recommendation_id: UUID
    customer_id: int
    session_id: UUID | None
    external_id: str
    kind: str
    name: str
    area: str
    price_minor: int | None
    currency: str
    tags: tuple[str, ...]
    reason: str
    created_at: datetime
    rating: str | None  # "up" | "down" | None
    note: str
    rated_at: datetime | None


@dataclass(frozen=True, slots=True)
class RecommendationRating:
    recommendation_id: UUID
    rating: str  # "up" | "down"
    note: str
    rated_at: datetime


@dataclass(frozen=True, slots=True)
class TurnCatalog:
    """The catalog side of a chat turn, read live: the candidates for the message (best first, each meeting the
    customer's hard rules), the names of the items near the message that fail them (what the reply's text must
    never name), and the names of the items the customer rated up and down lately (newest first, for one short line
    of a prompt); the constraints that bound them and what the message stated."""

    candidates: tuple[Candidate, ...]
    avoid_names: tuple[str, ...]
    liked: tuple[str, ...]
    disliked: tuple[str, ...]
    constraints: Constraints = NO_CONSTRAINTS  # the session's, with what the message states: what bound the search
    stated: Constraints = NO_CONSTRAINTS  # what the message itself states (to be kept with the session)
    asks: bool = True  # whether the message asks for anything (a greeting, thanks or small talk does not)
    # The customer's pending profile proposals (they bound the search like the profile's codes), and the codes
    # declined from this session (never proposed from it again), read live with the customer's facts.
    pending: Constraints = NO_CONSTRAINTS
    declined: Constraints = NO_CONSTRAINTS
