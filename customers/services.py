"""The public face of `customers`, the only owner of the database. Returns frozen dataclasses only.

Reads named `*_get` / `*_list` go through the read-through cache where noted; writes invalidate after commit.
Interface only in parts: functions raising NotImplementedError are being implemented (issue: customers).
"""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from django.db import DatabaseError, connection

from customers.data import (
    ApiUser,
    CustomerContext,
    CustomerProfile,
    DemoCustomer,
    Health,
    PastSessionSummary,
    SessionAccess,
    SessionInfo,
    SessionPage,
)


def database_health() -> Health:
    """Whether the database answers a trivial query."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return Health(ok=False, detail=f"database unreachable ({type(exc).__name__})")
    return Health(ok=True, detail="ok")


# --- authentication ---------------------------------------------------------------------------------------


def api_user_get_by_token(*, key: str) -> ApiUser | None:
    """The active user owning API token `key` (cached), or None for an unknown key or an inactive user."""
    raise NotImplementedError


def api_token_issue(*, user_id: int) -> str:
    """The user's API token, created on first use (idempotent)."""
    raise NotImplementedError


# --- customers --------------------------------------------------------------------------------------------


def customer_id_for_user(*, user_id: int) -> int:
    """The customer id of a Django user (cached). Raises CustomerNotFound when the user is no customer."""
    raise NotImplementedError


def customer_context_get(*, customer_id: int) -> CustomerContext:
    """What a prompt may see of the customer (read-through cached). Raises CustomerNotFound."""
    raise NotImplementedError


def customer_profile_get(*, customer_id: int) -> CustomerProfile:
    """The customer's own profile (read-through cached). Raises CustomerNotFound."""
    raise NotImplementedError


def customer_update(*, customer_id: int, **fields: object) -> CustomerProfile:
    """Change profile fields (validated); cached entries are dropped once the transaction commits."""
    raise NotImplementedError


def customer_cache_drop(*, customer_id: int) -> None:
    """Drop every cached entry of the customer (after the current transaction commits)."""
    raise NotImplementedError


def demo_customers_seed() -> list[DemoCustomer]:
    """Create the demo users, customers and API tokens if absent (idempotent); return them with their tokens."""
    raise NotImplementedError


# --- sessions ---------------------------------------------------------------------------------------------


def session_open(*, customer_id: int, title: str = "") -> SessionInfo:
    """Open a new session for the customer."""
    raise NotImplementedError


def session_access_get(*, customer_id: int, session_id: UUID) -> SessionAccess:
    """Ownership and status of a session (cached). Raises SessionNotFound if absent or another customer's."""
    raise NotImplementedError


def session_get(*, customer_id: int, session_id: UUID) -> SessionInfo:
    """The session with its counters (fresh from the database). Raises SessionNotFound as above."""
    raise NotImplementedError


def session_get_any(*, session_id: UUID) -> SessionInfo:
    """A session regardless of owner, for staff tools and commands. Raises SessionNotFound."""
    raise NotImplementedError


def session_list(*, customer_id: int, status: str | None = None, offset: int = 0, limit: int = 20) -> SessionPage:
    """The customer's sessions, newest first, optionally only `open` or `ended` ones."""
    raise NotImplementedError


def session_record_activity(
    *,
    session_id: UUID,
    messages_added: int,
    prompt_tokens: int,
    completion_tokens: int,
    mood: str = "",
    at: datetime | None = None,
) -> None:
    """Add to the session's counters atomically (one UPDATE) and move its last activity time."""
    raise NotImplementedError


def session_end(*, session_id: UUID, summary: str, final_mood: str = "") -> SessionInfo:
    """Close an open session with its summary, exactly once: a second call raises SessionEnded."""
    raise NotImplementedError


def session_delete(*, customer_id: int, session_id: UUID) -> None:
    """Delete the session row. Raises SessionNotFound as above."""
    raise NotImplementedError


def past_session_summaries(
    *, customer_id: int, limit: int, exclude_session_id: UUID | None = None
) -> Sequence[PastSessionSummary]:
    """The latest `limit` summaries of the customer's ended sessions, newest first (cached)."""
    raise NotImplementedError


def sessions_idle_since(*, before: datetime, limit: int = 500) -> Sequence[SessionInfo]:
    """Open sessions whose last activity is older than `before`, oldest first."""
    raise NotImplementedError
