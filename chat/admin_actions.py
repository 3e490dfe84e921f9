"""The conversation side of the customers admin, filled into `customers.ports` at start-up: the live transcript
of an open session, and the same end and delete flows as the API."""

import logging
from uuid import UUID

from chat import lifecycle
from customers import services as customers
from customers.services import LiveTranscript, SessionAdminActions, TranscriptLine
from llm import services as llm
from llm.services import LLMError

logger = logging.getLogger(__name__)


def transcript(session_id: UUID) -> LiveTranscript:
    """Messages, mood and rolling summary of the session, as stored in Redis now."""
    conversation = llm.conversation_get(session_id=session_id)
    mood = conversation.mood
    return LiveTranscript(
        lines=tuple(
            TranscriptLine(
                seq=m.seq,
                role=m.role,
                content=m.content,
                tokens=m.tokens,
                created_at=m.created_at,
                recommendations=tuple(
                    f"{card.item.name} [{card.item.external_id}]: {card.reason} (id {card.id})"
                    for card in m.recommendations
                ),
            )
            for m in conversation.messages
        ),
        mood=mood.mood if mood else "",
        mood_source=mood.source if mood else "",
        rolling_summary=conversation.rolling_summary,
    )


def session_end(session_id: UUID) -> None:
    """End the session with a summary, as `POST /api/v1/sessions/{id}/end` does."""
    info = customers.session_get_for_staff(session_id=session_id)
    lifecycle.session_end(customer_id=info.customer_id, session_id=session_id)


def session_delete(session_id: UUID) -> None:
    """Delete the session everywhere, as `DELETE /api/v1/sessions/{id}` does."""
    info = customers.session_get_for_staff(session_id=session_id)
    lifecycle.session_delete(customer_id=info.customer_id, session_id=session_id)


def conversation_delete(session_id: UUID) -> None:
    """The conversation state of a session whose row was deleted (any delete: admin, bulk, cascade)."""
    try:
        llm.session_delete(session_id=session_id)
    except LLMError as exc:  # the row is gone already; the keys expire with their TTL
        logger.warning("conversation_erase_deferred", extra={"session_id": str(session_id), "error": exc.code})


SESSION_ADMIN_ACTIONS = SessionAdminActions(
    transcript=transcript,
    session_end=session_end,
    session_delete=session_delete,
    conversation_delete=conversation_delete,
)
