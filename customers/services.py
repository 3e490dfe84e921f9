"""The public face of `customers`, the only owner of the database, and the one module other apps import: its
functions, and (re-exported) the frozen dataclasses, errors and admin port they speak in. Returns frozen dataclasses
only.

Reads named `*_get` and the other reads marked "cached" go through the read-through cache (`customers.cache`); writes
drop the affected entries once their transaction commits. Where the cache cannot answer and the database is
unreachable, services raise DatabaseUnavailable.
"""

from collections.abc import Callable, Sequence
from datetime import datetime
from uuid import UUID

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import DateTimeField, F, Value
from django.db.models.functions import Greatest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from customers import archive, cache, selectors
from customers.cache import get_or_load
from customers.data import (
    ApiUser,
    ArchivedMessage,
    CustomerProfile,
    DemoCustomer,
    Health,
    PastSessionSummary,
    SessionAccess,
    SessionInfo,
    SessionPage,
    TurnFacts,
)
from customers.database import database_connection_release, database_health, database_ping, database_required
from customers.demo import DEMO_CUSTOMERS
from customers.errors import (
    CustomerNotFound,
    CustomersError,
    DatabaseUnavailable,
    InvalidInput,
    SessionEnded,
    SessionNotFound,
    TooManyOpenSessions,
)
from customers.models import ChatSession, Customer, SessionStatus
from customers.ports import (
    LiveTranscript,
    SessionAdminActions,
    TranscriptLine,
    register_session_admin_actions,
)

# What other apps may use of `customers`: the functions below, and the data, errors and admin port they speak in.
__all__ = [
    "ApiUser",
    "ArchivedMessage",
    "CustomerNotFound",
    "CustomerProfile",
    "CustomersError",
    "DatabaseUnavailable",
    "Health",
    "InvalidInput",
    "LiveTranscript",
    "PastSessionSummary",
    "SessionAccess",
    "SessionAdminActions",
    "SessionEnded",
    "SessionInfo",
    "SessionNotFound",
    "SessionPage",
    "TooManyOpenSessions",
    "TranscriptLine",
    "TurnFacts",
    "api_user_get_by_token",
    "customer_cache_drop",
    "customer_id_get_by_user",
    "customer_id_get_by_username",
    "customer_profile_get",
    "customer_update",
    "database_connection_release",
    "database_health",
    "database_ping",
    "register_session_admin_actions",
    "session_access_get",
    "session_delete",
    "session_end",
    "session_get",
    "session_get_for_staff",
    "session_list",
    "session_list_idle",
    "session_open",
    "session_record_activity",
    "turn_facts_get",
]

_TOKEN_MAX_LENGTH = Token._meta.get_field("key").max_length
_UPDATABLE_FIELDS = frozenset(
    {
        "display_name",
        "birth_year",
        "home_area",
        "preferred_language",
        "currency",
        "monthly_limit_minor",
        "spent_this_month_minor",
        "preferences",
        "allergies",
    }
)
_MONEY_FIELDS = frozenset({"monthly_limit_minor", "spent_this_month_minor"})
_TAG_FIELDS = frozenset({"preferences", "allergies"})
# Past summaries are cached per customer this deep: enough for the largest PAST_SESSION_SUMMARIES (20) plus one
# excluded session. Larger requests read the database directly.
_SUMMARIES_CACHED = 21


# --- authentication ---------------------------------------------------------------------------------------


@database_required
def api_user_get_by_token(*, key: str) -> ApiUser | None:
    """The active user owning API token `key` (cached), or None for an unknown key or an inactive user."""
    if not key or len(key) > _TOKEN_MAX_LENGTH:
        return None  # no DRF token looks like this: spare the cache and the database
    return get_or_load(cache.API_USER, cache.token_digest(key), lambda: selectors.api_user(key=key))


# --- customers --------------------------------------------------------------------------------------------


@database_required
def customer_id_get_by_user(*, user_id: int) -> int:
    """The customer id of a Django user (cached). Raises CustomerNotFound when the user is no customer."""
    customer_id = get_or_load(cache.CUSTOMER_OF_USER, user_id, lambda: selectors.customer_id_of_user(user_id=user_id))
    if customer_id is None:
        raise CustomerNotFound(f"user {user_id} is no customer")
    return customer_id


@database_required
def customer_id_get_by_username(*, username: str) -> int:
    """The customer id of the user named `username` (for management commands; not cached). Raises CustomerNotFound."""
    lookup = {f"user__{get_user_model().USERNAME_FIELD}": username}
    customer_id = Customer.objects.filter(**lookup).values_list("id", flat=True).first()
    if customer_id is None:
        raise CustomerNotFound(f"no customer with username {username!r}")
    return customer_id


@database_required
def customer_profile_get(*, customer_id: int) -> CustomerProfile:
    """The customer's own profile (read-through cached). Raises CustomerNotFound."""
    profile = get_or_load(cache.CUSTOMER, customer_id, lambda: selectors.customer_profile(customer_id=customer_id))
    if profile is None:
        raise CustomerNotFound(f"customer {customer_id} not found")
    return profile


@database_required
def customer_update(*, customer_id: int, **fields: object) -> CustomerProfile:
    """Change profile fields (validated); cached entries are dropped once the transaction commits.

    Raises InvalidInput (a ValueError) for an unknown field or an invalid value, CustomerNotFound.
    """
    unknown = sorted(set(fields) - _UPDATABLE_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown customer fields: {', '.join(unknown)}")
    for name in _MONEY_FIELDS & set(fields):
        if type(fields[name]) is not int:
            raise InvalidInput(f"{name}: must be an integer amount of minor units")
    with transaction.atomic():
        customer = Customer.objects.select_for_update().select_related("user").filter(pk=customer_id).first()
        if customer is None:
            raise CustomerNotFound(f"customer {customer_id} not found")
        for name, value in fields.items():
            setattr(customer, name, _normalized_tags(value) if name in _TAG_FIELDS else value)
        try:
            customer.full_clean(exclude=[f.name for f in Customer._meta.fields if f.name not in fields])
        except ValidationError as exc:
            detail = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in sorted(exc.message_dict.items()))
            raise InvalidInput(detail) from None
        # The post_save receiver drops the cached entries on commit.
        customer.save(update_fields=[*fields, "updated_at"])
    return selectors.profile_of(customer)


@database_required
def customer_cache_drop(*, customer_id: int) -> None:
    """Drop every cached entry of the customer (after the current transaction commits)."""
    entries: list[tuple[cache.CacheSpec, object]] = [(cache.CUSTOMER, customer_id), (cache.PAST_SUMMARIES, customer_id)]
    user_id = Customer.objects.filter(pk=customer_id).values_list("user_id", flat=True).first()
    if user_id is not None:
        entries.append((cache.CUSTOMER_OF_USER, user_id))
        entries += [(cache.API_USER, cache.token_digest(key)) for key in selectors.token_keys(user_id=user_id)]
    session_ids = ChatSession.objects.filter(customer_id=customer_id).values_list("id", flat=True)
    entries += [(cache.SESSION_ACCESS, session_id) for session_id in session_ids]
    cache.invalidate_on_commit(entries)


@database_required
def demo_customers_seed() -> list[DemoCustomer]:
    """Create the demo users, customers and API tokens if absent (idempotent); return them with their tokens."""
    user_model = get_user_model()
    seeded = []
    with transaction.atomic():
        for spec in DEMO_CUSTOMERS:
            fields = dict(spec)
            username = str(fields.pop("username"))
            user, created = user_model.objects.get_or_create(**{user_model.USERNAME_FIELD: username})
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            customer, _ = Customer.objects.get_or_create(user=user, defaults=fields)
            token, _ = Token.objects.get_or_create(user=user)
            seeded.append(
                DemoCustomer(
                    username=username, display_name=customer.display_name, customer_id=customer.pk, token=token.key
                )
            )
    return seeded


# --- sessions ---------------------------------------------------------------------------------------------


@database_required
def session_open(*, customer_id: int, title: str = "", max_open: int | None = None) -> SessionInfo:
    """Open a new session for the customer; a title longer than 200 characters is cut. Raises CustomerNotFound;
    with `max_open`, TooManyOpenSessions when the customer has that many open already (the customer's row is locked
    for the count, so concurrent opens on any process cannot pass the cap together)."""
    title = title.strip()[: ChatSession._meta.get_field("title").max_length]
    with transaction.atomic():
        if not Customer.objects.select_for_update().filter(pk=customer_id).exists():
            raise CustomerNotFound(f"customer {customer_id} not found")
        if max_open is not None:
            open_now = ChatSession.objects.filter(customer_id=customer_id, status="open").count()
            if open_now >= max_open:
                raise TooManyOpenSessions(
                    f"You have {open_now} open sessions, the most allowed ({max_open}); end one to open another."
                )
        session = ChatSession.objects.create(customer_id=customer_id, title=title)
    return selectors.session_info(session)


@database_required
def session_access_get(*, customer_id: int, session_id: UUID) -> SessionAccess:
    """Ownership and status of a session (cached). Raises SessionNotFound if absent or another customer's."""
    access = get_or_load(cache.SESSION_ACCESS, session_id, lambda: selectors.session_access(session_id=session_id))
    if access is None or access.customer_id != customer_id:
        raise SessionNotFound(f"session {session_id} not found")
    return access


@database_required
def session_get(*, customer_id: int, session_id: UUID) -> SessionInfo:
    """The session with its counters (fresh from the database). Raises SessionNotFound as above."""
    session = ChatSession.objects.filter(pk=session_id, customer_id=customer_id).first()
    if session is None:
        raise SessionNotFound(f"session {session_id} not found")
    return selectors.session_info(session)


@database_required
def session_get_for_staff(*, session_id: UUID) -> SessionInfo:
    """A session regardless of owner, for staff tools and commands. Raises SessionNotFound."""
    session = ChatSession.objects.filter(pk=session_id).first()
    if session is None:
        raise SessionNotFound(f"session {session_id} not found")
    return selectors.session_info(session)


@database_required
def session_list(*, customer_id: int, status: str | None = None, offset: int = 0, limit: int = 20) -> SessionPage:
    """The customer's sessions, newest first, optionally only `open` or `ended` ones. Raises InvalidInput."""
    if status is not None and status not in SessionStatus.values:
        raise InvalidInput(f"status must be one of {', '.join(SessionStatus.values)}")
    if offset < 0 or limit < 1:
        raise InvalidInput("offset must be at least 0 and limit at least 1")
    sessions = ChatSession.objects.filter(customer_id=customer_id)
    if status is not None:
        sessions = sessions.filter(status=status)
    page = sessions.order_by("-created_at", "-id")[offset : offset + limit]
    return SessionPage(count=sessions.count(), results=tuple(selectors.session_info(s) for s in page))


@database_required
def session_record_activity(
    *,
    session_id: UUID,
    messages_added: int,
    prompt_tokens: int,
    completion_tokens: int,
    mood: str = "",
    at: datetime | None = None,
) -> None:
    """Add to the session's counters atomically (one UPDATE) and move its last activity time forward to `at`.

    A non-empty `mood` becomes the session's latest (final) mood. The cached access entry stays: it holds no counter.
    Raises SessionNotFound when the row is gone, InvalidInput for a negative amount.
    """
    if min(messages_added, prompt_tokens, completion_tokens) < 0:
        raise InvalidInput("activity amounts must not be negative")
    changes: dict[str, object] = {
        "message_count": F("message_count") + messages_added,
        "prompt_tokens": F("prompt_tokens") + prompt_tokens,
        "completion_tokens": F("completion_tokens") + completion_tokens,
        # Never backwards: turns of one session may finish out of order.
        "last_activity_at": Greatest("last_activity_at", Value(at or timezone.now(), output_field=DateTimeField())),
    }
    if mood:
        changes["final_mood"] = mood
    if not ChatSession.objects.filter(pk=session_id).update(**changes):
        raise SessionNotFound(f"session {session_id} not found")


@database_required
def session_end(*, session_id: UUID, summary: str, final_mood: str = "") -> SessionInfo:
    """Close an open session with its summary, exactly once: a second call raises SessionEnded.

    Safe across processes: the conditional UPDATE lets exactly one caller move the row from open to ended.
    An empty `final_mood` keeps the latest mood recorded with the session's activity.
    """
    changes: dict[str, object] = {"status": SessionStatus.ENDED, "ended_at": timezone.now(), "summary": summary}
    if final_mood:
        changes["final_mood"] = final_mood
    ended = ChatSession.objects.filter(pk=session_id, status=SessionStatus.OPEN).update(**changes)
    session = ChatSession.objects.filter(pk=session_id).first()
    if session is None:
        raise SessionNotFound(f"session {session_id} not found")
    if not ended:
        raise SessionEnded(f"session {session_id} has already ended")
    cache.invalidate_on_commit([(cache.SESSION_ACCESS, session_id), (cache.PAST_SUMMARIES, session.customer_id)])
    return selectors.session_info(session)


@database_required
def session_delete(*, customer_id: int, session_id: UUID) -> None:
    """Delete the session row. Raises SessionNotFound as above."""
    # A queryset delete still sends post_delete, whose receiver drops the cached entries on commit.
    deleted, _ = ChatSession.objects.filter(pk=session_id, customer_id=customer_id).delete()
    if not deleted:
        raise SessionNotFound(f"session {session_id} not found")


@database_required
def session_list_idle(*, before: datetime, limit: int = 500) -> Sequence[SessionInfo]:
    """Open sessions whose last activity is older than `before`, oldest first."""
    sessions = ChatSession.objects.filter(status=SessionStatus.OPEN, last_activity_at__lt=before)
    return tuple(selectors.session_info(s) for s in sessions.order_by("last_activity_at")[:limit])


# --- a chat turn -----------------------------------------------------------------------------------------


@database_required
def turn_facts_get(
    *, customer_id: int, session_id: UUID, past_limit: int, admit: Callable[[], None] | None = None
) -> TurnFacts:
    """What a turn in the customer's session needs of `customers`, with one cache round trip when warm (one MGET of
    the session's access, the profile and the past summaries); each miss is loaded through the read-through cache.

    Raises SessionNotFound if the session is absent or another customer's, then SessionEnded if it is not open.
    Then `admit()` runs, if given (the caller's admission check; its error propagates), before any profile or summary
    is loaded from the database, so a refused turn costs the database no more than its access. Then CustomerNotFound
    if the customer is gone. `past_limit` summaries at most, newest first, without the turn's own session; 0: none.
    """
    cached_summaries = 0 < past_limit < _SUMMARIES_CACHED
    entries: list[tuple[cache.CacheSpec, object]] = [(cache.SESSION_ACCESS, session_id), (cache.CUSTOMER, customer_id)]
    if cached_summaries:
        entries.append((cache.PAST_SUMMARIES, customer_id))
    access, profile, *summaries = cache.get_many(entries)
    if access is cache.MISS:
        access = cache.load(cache.SESSION_ACCESS, session_id, lambda: selectors.session_access(session_id=session_id))
    if access is None or access.customer_id != customer_id:
        raise SessionNotFound(f"session {session_id} not found")
    if access.status != SessionStatus.OPEN:
        raise SessionEnded(f"session {session_id} has ended")
    if admit is not None:
        admit()
    if profile is cache.MISS:
        profile = cache.load(cache.CUSTOMER, customer_id, lambda: selectors.customer_profile(customer_id=customer_id))
    if profile is None:
        raise CustomerNotFound(f"customer {customer_id} not found")
    if cached_summaries:
        past = summaries[0]
        if past is cache.MISS:
            past = cache.load(cache.PAST_SUMMARIES, customer_id, lambda: _summaries_cached(customer_id))
    else:
        past = selectors.past_summaries(customer_id=customer_id, limit=past_limit + 1) if past_limit > 0 else ()
    return TurnFacts(
        access=access,
        profile=profile,
        past_summaries=tuple(s for s in past if s.session_id != session_id)[:past_limit] if past_limit > 0 else (),
    )


def _summaries_cached(customer_id: int) -> tuple[PastSessionSummary, ...]:
    return selectors.past_summaries(customer_id=customer_id, limit=_SUMMARIES_CACHED)


def _normalized_tags(value: object) -> object:
    """Tags without surrounding blanks or repeats; anything but a list or tuple is left for validation to refuse."""
    if not isinstance(value, list | tuple) or not all(isinstance(tag, str) for tag in value):
        return value
    return list(dict.fromkeys(tag.strip() for tag in value))


# --- The opt-in transcript archive (CHAT_ARCHIVE_DAYS; customers/archive.py) ----------------------------------


@database_required
def session_transcript_archive(*, session_id: UUID, messages: Sequence[ArchivedMessage]) -> bool:
    """Keep an ended session's messages for CHAT_ARCHIVE_DAYS days; False (nothing stored) when that is 0."""
    return archive.archive(session_id=session_id, messages=messages)


@database_required
def session_transcript_get(*, customer_id: int, session_id: UUID) -> tuple[ArchivedMessage, ...]:
    """The archived messages of the customer's ended session, oldest first; none when not archived or expired.
    Raises SessionNotFound when the session is not the customer's."""
    if not ChatSession.objects.filter(pk=session_id, customer_id=customer_id).exists():
        raise SessionNotFound(f"session {session_id} not found")
    return archive.transcript(session_id=session_id)


@database_required
def transcript_purge_expired() -> int:
    """Delete the archived transcripts older than CHAT_ARCHIVE_DAYS days (all when it is 0); how many went."""
    return archive.purge()
