"""Shapes the HTTP tests cannot easily provoke: a reply stored as interrupted (the server stopped mid-stream); one
shared serializer instance rendering for many threads."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime

from chat.serializers import MessageOut, rendered
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


def test_one_shared_instance_renders_as_a_fresh_serializer_from_many_threads():
    """`rendered` serves every request from one serializer per kind: nothing of one call may reach another's."""
    messages = [
        replace(message(interrupted=index % 2 == 0), id=f"m-{index}", seq=index, content=f"reply {index}")
        for index in range(200)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        shared = list(pool.map(lambda m: rendered(MessageOut, m), messages))
    assert shared == [MessageOut(m).data for m in messages]
