"""Chat sessions: opening, access (cached), activity, ending, deletion, the turn's one read and the opt-in
transcript archive. Other apps reach these functions through `customers.services`."""

from collections.abc import Sequence
from contextlib import nullcontext
from datetime import datetime
from uuid import UUID

from django.db import connection, transaction
from django.db.models import DateTimeField, F, IntegerField, Value
from django.db.models.functions import Greatest
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from customers import archive, cache, memory, selectors
from customers.cache import get_or_load
from customers.catalog import recommendations as catalog_recommendations
from customers.catalog import search
from customers.data import (
    NO_CONSTRAINTS,
    ArchivedMessage,
    Constraints,
    PastSessionSummary,
    SessionAccess,
    SessionInfo,
    SessionPage,
    TurnFacts,
)
from customers.database import database_required
from customers.errors import (
    CustomerNotFound,
    InvalidInput,
    SessionEnded,
    SessionNotFound,
    TooManyOpenSessions,
)
from customers.models import ChatSession, Customer, Recommendation, SessionStatus

SESSION_STATUSES: tuple[str, ...] = tuple(SessionStatus.values)

# Past summaries are cached per customer this deep: enough for the largest PAST_SESSION_SUMMARIES (20) plus one
# excluded session. Larger requests read the database directly.
_SUMMARIES_CACHED = 21


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
            open_now = ChatSession.objects.filter(customer_id=customer_id, status=SessionStatus.OPEN).count()
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
    recommendations: Sequence[tuple[UUID, str, str]] = (),
    customer_id: int | None = None,
    constraints: Constraints = NO_CONSTRAINTS,
    maybe_recorded: bool = False,
    proposed: Sequence[tuple[str, str]] = (),
) -> tuple[UUID, ...]:
    """Add to the session's counters atomically (one UPDATE) and move its last activity time forward to `at`.

    A non-empty `mood` becomes the session's latest (final) mood. `recommendations` are the turn's, as
    (recommendation id, external_id, reason), checked when the model answered against facts read before the turn:
    their rows are written in the same transaction as the counters, and only for the items that still meet every
    rule of the customer `customer_id` (required with `recommendations`) and the session's `constraints` against
    the current rows: the customer's facts read again (`search.facts`, bound as for the candidates), then one
    statement that updates the counters and inserts the rows of the items `search.eligible` still admits (two
    statements in all on PostgreSQL). Returns the ids of the rows written; the others' cards must not be shown. The
    cached access entry stays: it holds no counter. Raises SessionNotFound when the row is gone, InvalidInput for a
    negative amount.

    `maybe_recorded`: an earlier attempt at this recording failed without telling whether its commit happened (the
    connection dropped). Rows of `recommendations` found then say it did: nothing is written again, and their ids
    are returned.

    `proposed`: the (kind, code) allergies and diets the turn stated ("allergy" or "diet" and a code), proposed for
    the customer's profile in the same transaction, one statement more (customers/memory.py `proposals_insert`:
    once per code, even under concurrency; not a code of the profile, nor one declined from this session). A turn
    that states nothing costs nothing more.
    """
    at = at or timezone.now()
    amounts = (messages_added, prompt_tokens, completion_tokens)
    if min(amounts) < 0:
        raise InvalidInput("activity amounts must not be negative")
    if not recommendations:
        with transaction.atomic() if proposed else nullcontext():
            if not ChatSession.objects.filter(pk=session_id).update(**_activity_changes(*amounts, mood, at)):
                raise SessionNotFound(f"session {session_id} not found")
            if proposed:
                memory.proposals_insert(session_id=session_id, proposed=proposed)
        return ()
    if customer_id is None:
        raise InvalidInput("the customer whose rules the cards must meet")
    if maybe_recorded:
        ids = [recommendation_id for recommendation_id, _, _ in recommendations]
        if found := tuple(Recommendation.objects.filter(pk__in=ids).values_list("pk", flat=True)):
            return found
    with transaction.atomic():
        found = search.facts(customer_id=customer_id)
        if found is None:
            raise CustomerNotFound(f"customer {customer_id} not found")
        recorded = catalog_recommendations.insert(
            recommended=[(external_id, reason) for _, external_id, reason in recommendations],
            ids=[recommendation_id for recommendation_id, _, _ in recommendations],
            session_id=session_id,
            rules=search.bound(found.rules, constraints),
            activity=_activity_sql(session_id, amounts, mood, at),
        )
        if proposed:
            memory.proposals_insert(session_id=session_id, proposed=proposed)
        return recorded


# (database vendor, whether the mood is set) -> the text of the activity UPDATE, as the ORM compiles it.
_ACTIVITY_SQL: dict[tuple[str, bool], str] = {}
# The fields the activity's parameters are prepared by, as its compiled expressions' values are.
_AMOUNT, _AT = IntegerField(), DateTimeField()


def _activity_sql(
    session_id: UUID,
    amounts: tuple[int, int, int],
    mood: str,
    at: datetime,
) -> tuple[str, list[object]]:
    """The UPDATE that `update(**_activity_changes(...))` of the session sends, as SQL and parameters. Compiling it
    was a large part of a recording's CPU, and only its parameters change from turn to turn: its text is compiled
    once per vendor and mood-or-not, and the parameters are bound here in the order of `_activity_changes`, checked
    against the compiled ones then."""
    params = [_AMOUNT.get_db_prep_value(amount, connection) for amount in amounts]
    params.append(_AT.get_db_prep_value(at, connection))
    if mood:
        params.append(mood)
    params.append(ChatSession._meta.pk.get_db_prep_value(session_id, connection))
    key = (connection.vendor, bool(mood))
    if key not in _ACTIVITY_SQL:
        rows = ChatSession.objects.filter(pk=session_id)
        query = rows.query.chain(UpdateQuery)
        query.add_update_values(_activity_changes(*amounts, mood, at))
        sql, compiled = query.get_compiler(rows.db).as_sql()
        if [(type(p), p) for p in compiled] != [(type(p), p) for p in params]:
            raise RuntimeError("the activity UPDATE's parameters are not bound in its compiled order")
        _ACTIVITY_SQL[key] = sql
    return _ACTIVITY_SQL[key], params


def _activity_changes(
    messages_added: int, prompt_tokens: int, completion_tokens: int, mood: str, at: datetime
) -> dict[str, object]:
    changes: dict[str, object] = {
        "message_count": F("message_count") + messages_added,
        "prompt_tokens": F("prompt_tokens") + prompt_tokens,
        "completion_tokens": F("completion_tokens") + completion_tokens,
        # Never backwards: turns of one session may finish out of order.
        "last_activity_at": Greatest("last_activity_at", Value(at, output_field=DateTimeField())),
    }
    if mood:
        changes["final_mood"] = mood
    return changes


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
def turn_facts_get(*, customer_id: int, session_id: UUID, past_limit: int) -> TurnFacts:
    """What a turn in the customer's session needs of `customers`, with one cache round trip when warm (one MGET of
    the session's access, the profile and the past summaries); each miss is loaded through the read-through cache.

    Raises SessionNotFound if the session is absent or another customer's, then SessionEnded if it is not open,
    then CustomerNotFound if the customer is gone.
    `past_limit` summaries at most, newest first, without the turn's own session; 0: none.
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
