"""Shapes the HTTP tests cannot easily provoke: a reply stored as interrupted (the server stopped mid-stream)."""

from datetime import UTC, datetime

from chat.serializers import MessageOut
from llm.data import Message


def message(*, interrupted: bool) -> Message:
    return Message(
        id="m-2",
        seq=2,
        role="assistant",
        content="Half a reply",
        tokens=7,
        created_at=datetime(2026, 11, 26, 9, 0, tzinfo=UTC),
        interrupted=interrupted,
    )


def test_interrupted_is_shown_only_when_true():
    assert MessageOut(message(interrupted=True)).data["interrupted"] is True
    data = MessageOut(message(interrupted=False)).data
    assert set(data) == {"id", "seq", "role", "content", "created_at", "tokens", "recommendations"}
    assert data["created_at"] == "2026-11-26T09:00:00Z"
