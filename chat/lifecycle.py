"""A session's life outside its turns: open, show, set the mood, end with a summary, erase, and the idle sweep.

Shared by the API, the admin actions and the management commands, so each path ends or erases a session the same way.
"""

import dataclasses
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar
from uuid import UUID

from django.conf import settings
from django.utils import timezone

from chat.context import session_recommended_read, turn_context_read
from customers import services as customers
from customers.services import (
    ArchivedMessage,
    CustomersError,
    DatabaseUnavailable,
    SessionEnded,
    SessionInfo,
    SessionNotFound,
)
from llm import services as llm
from llm.services import NO_CONSTRAINTS, Constraints, LLMError, Message, Mood, SessionClosed, StoreUnavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SessionView:
    """A session as the API shows it: the stored record, plus the live messages and mood while it is open."""

    info: SessionInfo
    mood: str  # "" when none
    messages: tuple[Message, ...] = ()
    constraints: Constraints = NO_CONSTRAINTS  # what the customer stated in the session (while it is open)

    @property
    def summary(self) -> str | None:
        return self.info.summary if self.info.status == "ended" else None


@dataclass(frozen=True, slots=True)
class SweepReport:
    ended: int
    skipped: int
    failed: int


def session_require_open(*, customer_id: int, session_id: UUID) -> None:
    """The session is the customer's (else SessionNotFound, shown as 404) and open (else SessionEnded). Cached."""
    access = customers.session_access_get(customer_id=customer_id, session_id=session_id)
    if access.status != "open":
        raise SessionEnded("The session has ended.")


def session_open(*, customer_id: int, title: str = "") -> SessionView:
    """Open a new session for the customer."""
    info = customers.session_open(customer_id=customer_id, title=title, max_open=settings.CHAT_MAX_OPEN_SESSIONS)
    return SessionView(info=info, mood="")


def session_view_get(*, customer_id: int, session_id: UUID) -> SessionView:
    """The session with its live messages and mood while open, or with its summary once ended."""
    info = customers.session_get(customer_id=customer_id, session_id=session_id)
    if info.status != "open":
        return SessionView(info=info, mood=info.final_mood)
    conversation = llm.conversation_get(session_id=session_id)
    mood = conversation.mood.mood if conversation.mood else ""
    return SessionView(info=info, mood=mood, messages=conversation.messages, constraints=conversation.constraints)


def session_page_get(
    *, customer_id: int, status: str | None, offset: int, limit: int
) -> tuple[int, tuple[SessionView, ...]]:
    """The customer's sessions, newest first, with the total count; moods as last recorded."""
    page = customers.session_list(customer_id=customer_id, status=status, offset=offset, limit=limit)
    return page.count, tuple(SessionView(info=info, mood=info.final_mood) for info in page.results)


def session_messages_get(*, customer_id: int, session_id: UUID) -> tuple[Message, ...]:
    """The session's messages, oldest first. Once it has ended its summary replaces them, unless the opt-in
    archive (CHAT_ARCHIVE_DAYS) still keeps its transcript."""
    access = customers.session_access_get(customer_id=customer_id, session_id=session_id)
    if access.status != "open":
        archived = customers.session_transcript_get(customer_id=customer_id, session_id=session_id)
        return tuple(_copied(Message, m, recommendations=llm.cards_decode(m.recommendations)) for m in archived)
    return llm.messages_list(session_id=session_id)


def session_mood_set(*, customer_id: int, session_id: UUID, mood: str) -> Mood:
    """Set the mood of an open session (it steers the next replies); the database keeps it as the last mood."""
    session_require_open(customer_id=customer_id, session_id=session_id)
    result = llm.mood_set(session_id=session_id, mood=mood)
    try:
        customers.session_record_activity(
            session_id=session_id, messages_added=0, prompt_tokens=0, completion_tokens=0, mood=mood
        )
    except DatabaseUnavailable:
        # The mood is set where replies read it; the stored copy only feeds listings and catches up next turn.
        logger.warning("mood_not_recorded", extra={"session_id": str(session_id)})
    return result


def session_constraints_set(*, customer_id: int, session_id: UUID, constraints: Constraints) -> SessionView:
    """Replace the constraints of an open session (the customer's own act: the one way a rule is loosened); the
    session as `session_view_get` shows it. Codes are validated by the caller (the API's input)."""
    session_require_open(customer_id=customer_id, session_id=session_id)
    try:
        llm.constraints_set(session_id=session_id, constraints=constraints)
    except SessionClosed as exc:
        raise SessionEnded("The session has ended.") from exc
    return session_view_get(customer_id=customer_id, session_id=session_id)


def session_end(*, customer_id: int, session_id: UUID) -> SessionView:
    """End an open session in its turn lock's line (llm.session_end): once the turns queued before it are done,
    summarize it, store the summary (exactly once: a concurrent end raises SessionEnded or SessionClosed), then drop
    its conversation state, which the summary now replaces; turns queued after it are refused (session_ended)."""
    context = turn_context_read(customer_id=customer_id, session_id=session_id)  # the session is theirs and open
    context = session_recommended_read(context, customer_id=customer_id, session_id=session_id)  # what it recommended

    with llm.session_end(session_id=session_id):  # holding the turn lock; erased after the block
        summary = llm.session_summarize(session_id=session_id, context=context)
        info = customers.session_end(session_id=session_id, summary=summary.text, final_mood=summary.final_mood)
        _archive_transcript(session_id)
    logger.info("session_ended", extra={"session_id": str(session_id), "provider": summary.provider})
    return SessionView(info=info, mood=info.final_mood)


def session_delete(*, customer_id: int, session_id: UUID) -> None:
    """Delete the session's conversation state (after the turns queued before it; the ones after it are refused),
    then its row. In that order, a failure leaves the row so that the erase can be retried; the other order could
    leave state no request can reach any more."""
    customers.session_access_get(customer_id=customer_id, session_id=session_id)
    llm.session_delete(session_id=session_id)
    customers.session_delete(customer_id=customer_id, session_id=session_id)
    logger.info("session_deleted", extra={"session_id": str(session_id)})


def sessions_idle_end(*, idle_for: timedelta, limit: int = 500) -> SweepReport:
    """End (with a summary) the open sessions idle for longer than `idle_for`, oldest first.

    Safe on several hosts at once: `customers.session_end` ends a session exactly once, and a session already
    ended elsewhere is skipped, usually before any model call because its cached status has changed."""
    ended = skipped = failed = 0
    for info in customers.session_list_idle(before=timezone.now() - idle_for, limit=limit):
        try:
            session_end(customer_id=info.customer_id, session_id=info.session_id)
        except (SessionEnded, SessionClosed, SessionNotFound):
            skipped += 1
        except (LLMError, CustomersError) as exc:
            failed += 1
            logger.warning(
                "idle_session_not_ended",
                extra={"session_id": str(info.session_id), "error": type(exc).__name__},
            )
        else:
            ended += 1
    return SweepReport(ended=ended, skipped=skipped, failed=failed)


def _archive_transcript(session_id: UUID) -> None:
    """With CHAT_ARCHIVE_DAYS > 0, hand the ended session's messages to customers to keep; best effort."""
    if settings.CHAT_ARCHIVE_DAYS <= 0:
        return
    try:
        messages = llm.messages_list(session_id=session_id)
        customers.session_transcript_archive(
            session_id=session_id,
            messages=tuple(
                _copied(ArchivedMessage, m, recommendations=llm.cards_encode(m.recommendations)) for m in messages
            ),
        )
    except (StoreUnavailable, CustomersError) as exc:  # e.g. the database went away, or the session was erased
        # The session is ended with its summary; only the optional archive is missing.
        logger.warning("transcript_not_archived", extra={"session_id": str(session_id), "error": type(exc).__name__})


def _copied(kind: type[T], message: object, **converted: object) -> T:
    """A message as `kind` (llm's Message, customers' ArchivedMessage): the fields they share, taken by name, but
    those given `converted` (the cards: llm's data classes on one side, their stored JSON on the other)."""
    shared = [field.name for field in dataclasses.fields(kind) if hasattr(message, field.name)]
    return kind(**{name: getattr(message, name) for name in shared if name not in converted}, **converted)
