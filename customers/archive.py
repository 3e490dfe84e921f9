"""The opt-in transcript archive: ended sessions' messages kept in the database for CHAT_ARCHIVE_DAYS days.

Off by default (0): then nothing is stored and only the summary outlives a session. The public functions are
re-exported by `customers.services`.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.utils import timezone

from customers.data import ArchivedMessage
from customers.errors import SessionNotFound
from customers.models import ArchivedTranscript, ChatSession, SessionStatus


def retention() -> timedelta | None:
    """How long an archived transcript is kept, or None when the archive is off."""
    days = settings.CHAT_ARCHIVE_DAYS
    return timedelta(days=days) if days > 0 else None


def archive(*, session_id: UUID, messages: Sequence[ArchivedMessage]) -> bool:
    """Store the transcript of an ended session (replacing an earlier one); False when the archive is off."""
    if retention() is None:
        return False
    if not ChatSession.objects.filter(pk=session_id, status=SessionStatus.ENDED).exists():
        raise SessionNotFound(f"no ended session {session_id}")
    rows = [_row(message) for message in sorted(messages, key=lambda message: message.seq)]
    ArchivedTranscript.objects.update_or_create(
        session_id=session_id, defaults={"messages": rows, "archived_at": timezone.now()}
    )
    return True


def transcript(*, session_id: UUID, now: datetime | None = None) -> tuple[ArchivedMessage, ...]:
    """The archived messages of the session, oldest first; none when there is no archive or it has expired."""
    keep = retention()
    if keep is None:
        return ()
    row = (
        ArchivedTranscript.objects.filter(session_id=session_id, archived_at__gt=(now or timezone.now()) - keep)
        .values_list("messages", flat=True)
        .first()
    )
    return tuple(_message(item) for item in row or ())


def purge(*, now: datetime | None = None) -> int:
    """Delete the transcripts archived longer ago than CHAT_ARCHIVE_DAYS (all of them when it is 0)."""
    expired = ArchivedTranscript.objects.all()
    keep = retention()
    if keep is not None:
        expired = expired.filter(archived_at__lte=(now or timezone.now()) - keep)
    deleted, _ = expired.delete()
    return deleted


def _row(message: ArchivedMessage) -> dict[str, object]:
    return {
        "id": message.id,
        "seq": message.seq,
        "role": message.role,
        "content": message.content,
        "tokens": message.tokens,
        "created_at": message.created_at.isoformat(),
        "interrupted": message.interrupted,
        "recommendations": list(message.recommendations),
    }


def _message(item: dict) -> ArchivedMessage:
    return ArchivedMessage(
        id=str(item["id"]),
        seq=int(item["seq"]),
        role=str(item["role"]),
        content=str(item["content"]),
        tokens=int(item["tokens"]),
        created_at=datetime.fromisoformat(item["created_at"]),
        interrupted=bool(item.get("interrupted", False)),
        recommendations=tuple(item.get("recommendations", ())),
    )
