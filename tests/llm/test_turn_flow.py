"""A turn's flow driven with scripted step results: no Redis, no model, no runner. What the turn sends, in what
order, and what it makes of the answers, as h11's tests drive its protocol without a socket."""

from dataclasses import replace
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from llm import flow, store, turns
from llm.answers import Answer
from llm.data import Message, Usage
from llm.errors import LLMUnavailable, TurnInProgress
from llm.store import scripts
from tests.llm.contexts import alice

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _stored(seq: int, role: str, content: str) -> bytes:
    message = Message(id=uuid4().hex, seq=seq, role=role, content=content, tokens=7, created_at=NOW)
    return store.encode_message(message).encode()


def _begun(*tail: bytes) -> list:
    """BEGIN's answer: the message answered is the last of `tail` (newest last), no mood, summary or constraints."""
    last = len(tail)
    return [b"ok", last, 0, last, last, None, b"", 0, [], *reversed(tail)]


def _scripts(step: store.Send) -> list[store.Script | None]:
    return [call.script for call in step.calls]


def _turn(text: str = "Dinner?"):
    """The flow of a turn sending `text`, and the message as BEGIN stores it (seq 1)."""
    ask = turns._ask(uuid4(), alice(), None, text)
    return turns._turn(ask, stream=False), store.encode_message(replace(ask.user, seq=1)).encode()


def test_a_free_lock_and_a_reply_take_two_round_trips_and_one_model_call():
    turn_flow, sent = _turn()
    first = next(turn_flow)
    assert isinstance(first, store.Send)
    assert first.atomic
    assert _scripts(first) == [scripts.LOCK_TRY, scripts.BEGIN]
    hold = turn_flow.send([1, _begun(sent)])
    assert isinstance(hold, flow.HoldLease)
    ask = turn_flow.send(None)
    assert isinstance(ask, flow.Ask)
    assert ask.request.purpose == "reply"
    assert ask.request.messages[-1] == {"role": "user", "content": "Dinner?"}
    finish = turn_flow.send(Answer("Try the stew.", "tired", Usage(10, 4, "server"), "stop"))
    assert isinstance(finish, store.Send)
    assert finish.durable
    assert _scripts(finish) == [scripts.FINISH, scripts.USAGE]
    with pytest.raises(StopIteration) as done:
        turn_flow.send([[b"ok", None, []], 1])
    turn = done.value.value
    assert (turn.user_message.content, turn.assistant_message.content) == ("Dinner?", "Try the stew.")
    assert (turn.assistant_message.seq, turn.messages_added) == (2, 2)


def test_a_turn_that_waits_in_line_polls_then_sends_begin_alone():
    turn_flow, sent = _turn()
    next(turn_flow)
    sleep = turn_flow.send([0, [b"fenced"]])  # the lock is another turn's: BEGIN wrote nothing
    assert isinstance(sleep, flow.Sleep)
    retry = turn_flow.send(None)
    assert _scripts(retry) == [scripts.LOCK_TRY]
    hold = turn_flow.send([1])
    assert isinstance(hold, flow.HoldLease)
    begin = turn_flow.send(None)
    assert _scripts(begin) == [scripts.BEGIN]
    assert isinstance(turn_flow.send([_begun(sent)]), flow.Ask)


def test_a_failed_model_call_releases_the_lock_and_says_what_the_turn_left_stored():
    turn_flow, sent = _turn()
    next(turn_flow)
    turn_flow.send([1, _begun(sent)])
    turn_flow.send(None)
    release = turn_flow.throw(LLMUnavailable("down"))
    assert _scripts(release) == [scripts.LOCK_RELEASE]
    with pytest.raises(LLMUnavailable) as failed:
        turn_flow.send([1])
    assert failed.value.messages_added == 1


def test_a_reply_the_lock_no_longer_allows_is_refused_and_the_lock_released():
    turn_flow, sent = _turn()
    next(turn_flow)
    turn_flow.send([1, _begun(sent)])
    turn_flow.send(None)
    turn_flow.send(Answer("Too late.", None, Usage(10, 4, "server"), "stop"))
    release = turn_flow.send([[b"fenced"], 1])  # FINISH found another ticket first: nothing written
    assert _scripts(release) == [scripts.LOCK_RELEASE]
    with pytest.raises(TurnInProgress):
        turn_flow.send([1])


def test_a_turn_answering_a_message_stored_earlier_counts_only_its_reply():
    turn_flow, _ = _turn()
    next(turn_flow)
    turn_flow.send([1, _begun(_stored(1, "user", "Dinner?"))])  # a retried key: BEGIN names the stored message
    turn_flow.send(None)
    turn_flow.send(Answer("Try the stew.", None, Usage(10, 4, "server"), "stop"))
    with pytest.raises(StopIteration) as done:
        turn_flow.send([[b"ok", None, []], 1])
    assert done.value.value.messages_added == 1
