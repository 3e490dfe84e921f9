"""Plain data returned by `customers.services`: frozen dataclasses, never model instances or querysets."""

from dataclasses import dataclass, field
from datetime import datetime
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


# --- catalog and recommendations --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DietaryParse:
    """Free text sorted into allergen codes, diet codes and notes that map to no code."""

    allergies: tuple[str, ...]
    diets: tuple[str, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A catalog item that meets every hard rule of the customer it was searched for, with its ranking score.

    `price_minor` is None for an item that charges nothing (a park); `description` is cut to fit a prompt.
    """

    external_id: str
    kind: str
    name: str
    area: str
    price_minor: int | None
    currency: str
    tags: tuple[str, ...]
    allergens: tuple[str, ...]
    diets: tuple[str, ...]
    food: bool
    description: str
    score: float


@dataclass(frozen=True, slots=True)
class CatalogImportResult:
    created: int
    updated: int
    unchanged: int
    deactivated: int


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
    of a prompt)."""

    candidates: tuple[Candidate, ...]
    avoid_names: tuple[str, ...]
    liked: tuple[str, ...]
    disliked: tuple[str, ...]
