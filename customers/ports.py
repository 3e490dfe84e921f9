"""Ports that other apps fill at start-up, so `customers`' admin can show live conversation state without
importing `llm`: `chat` registers an adapter in its `AppConfig.ready()`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    seq: int
    role: str
    content: str
    tokens: int
    created_at: datetime
    recommendations: tuple[str, ...] = ()  # an assistant message's cards, one line each


@dataclass(frozen=True, slots=True)
class LiveTranscript:
    lines: tuple[TranscriptLine, ...]
    mood: str  # "" when none is set
    mood_source: str  # "user" | "inferred" | ""
    rolling_summary: str


@dataclass(frozen=True, slots=True)
class SessionAdminActions:
    """What the admin needs from the conversation side; each takes a session id."""

    transcript: Callable[[UUID], LiveTranscript]
    session_end: Callable[[UUID], None]  # as `POST /api/v1/sessions/{id}/end`
    session_delete: Callable[[UUID], None]  # as `DELETE /api/v1/sessions/{id}`
    # Delete only the conversation state of a session whose row is gone (after the commit of any delete: the admin's,
    # bulk, or a cascade from its customer or user); never raises.
    conversation_delete: Callable[[UUID], None] = lambda session_id: None


_registered: list[SessionAdminActions] = []


def register_session_admin_actions(actions: SessionAdminActions) -> None:
    """Install the adapter (called once from `chat`'s app config); a later call replaces the earlier one."""
    _registered[:] = [actions]


def session_admin_actions() -> SessionAdminActions | None:
    """The installed adapter, or None when no app provided one (the admin then says so)."""
    return _registered[0] if _registered else None
