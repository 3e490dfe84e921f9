"""The rule behind every reliability case: nothing lost, nothing leaked.

A session's history (GET /api/v1/sessions/{id}/messages, oldest first) obeys it when:
- `seq` counts 1, 2, 3… with no gap and no duplicate, and message ids are unique;
- every assistant message directly follows a user message (replies never stack, never come first);
- every turn the client saw succeed (2xx) appears exactly once: its user message and its reply, adjacent, in order;
- every message the client sent is there exactly once, answered or not: a failed turn leaves its user message
  (without a reply, unless a later regenerate answered it), never a half-written reply;
- no message is marked interrupted unless the caller allows it.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SeenTurn:
    """A turn as the client saw it succeed: the `user_message` and `assistant_message` of the 2xx answer."""

    user_id: str
    user_content: str
    assistant_id: str


def seen_turn(body: dict) -> SeenTurn:
    """The SeenTurn of a 2xx turn body (JSON answer, or the `done` event of a stream)."""
    return SeenTurn(
        user_id=body["user_message"]["id"],
        user_content=body["user_message"]["content"],
        assistant_id=body["assistant_message"]["id"],
    )


def check_history(
    messages: Sequence[dict],
    *,
    succeeded: Iterable[SeenTurn] = (),
    sent: Iterable[str] = (),
    allow_interrupted: bool = False,
) -> None:
    """Assert the rule on one session's history; `sent` is every content the client sent (2xx or not), each
    unique within the session so that it can be counted."""
    seqs = [m["seq"] for m in messages]
    assert seqs == list(range(1, len(messages) + 1)), f"seq not contiguous from 1: {seqs}"
    ids = [m["id"] for m in messages]
    assert len(set(ids)) == len(ids), "duplicate message ids"
    for index, message in enumerate(messages):
        assert message["role"] in ("user", "assistant"), message["role"]
        if message["role"] == "assistant":
            assert index > 0, "the history starts with a reply"
            assert messages[index - 1]["role"] == "user", f"reply without its user message at seq {message['seq']}"
        if not allow_interrupted:
            assert not message.get("interrupted"), f"interrupted message stored at seq {message['seq']}"

    position = {m["id"]: i for i, m in enumerate(messages)}
    for turn in succeeded:
        assert turn.user_id in position, f"answered turn lost its user message: {turn.user_content!r}"
        assert turn.assistant_id in position, f"answered turn lost its reply: {turn.user_content!r}"
        assert position[turn.assistant_id] == position[turn.user_id] + 1, "a reply is not next to its user message"

    user_contents = [m["content"] for m in messages if m["role"] == "user"]
    for content in sent:
        count = user_contents.count(content)
        assert count == 1, f"sent message stored {count} times: {content!r}"


def assert_absent(haystack: str, needles: Iterable[str], *, where: str) -> None:
    """None of `needles` (another customer's facts, canaries, tokens) appears in `haystack`."""
    for needle in needles:
        assert needle not in haystack, f"{needle!r} leaked into {where}"
