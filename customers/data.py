"""Plain data returned by `customers.services`: frozen dataclasses, never model instances or querysets."""

from dataclasses import dataclass
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
class CustomerContext:
    """What a prompt may see of a customer. No contact details, no account identifiers beyond the id."""

    customer_id: int
    display_name: str
    birth_year: int | None
    home_area: str
    preferred_language: str
    currency: str
    monthly_limit_minor: int
    spent_this_month_minor: int
    remaining_limit_minor: int
    preferences: tuple[str, ...]
    allergies: tuple[str, ...]  # allergen codes
    diets: tuple[str, ...]  # diet codes
    dietary_notes: tuple[str, ...]  # restrictions no code covers (unverified)


@dataclass(frozen=True, slots=True)
class CustomerProfile:
    """The caller's own profile, as `GET /api/v1/me` shows it."""

    customer_id: int
    username: str
    display_name: str
    birth_year: int | None
    home_area: str
    preferred_language: str
    currency: str
    monthly_limit_minor: int
    spent_this_month_minor: int
    remaining_limit_minor: int
    preferences: tuple[str, ...]
    allergies: tuple[str, ...]  # allergen codes
    diets: tuple[str, ...]  # diet codes
    dietary_notes: tuple[str, ...]  # restrictions no code covers (unverified)
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
class DemoCustomer:
    """A seeded demo customer and the API token to call the API as them."""

    username: str
    display_name: str
    customer_id: int
    token: str


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
class RecentTastes:
    """Names of the items the customer rated lately, newest first: for one short line of a prompt."""

    liked: tuple[str, ...]
    disliked: tuple[str, ...]
