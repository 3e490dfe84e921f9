"""Idempotency-Key on sync turns: a replay makes no second turn, a retry of a failed turn answers its stored
message, and a key reused for another request is refused."""

from dataclasses import replace

import pytest

from llm import services, store
from llm.errors import (
    IdempotencyConflict,
    LLMUnavailable,
)
from tests.fakes.openai import Fault
from tests.llm.contexts import alice
from tests.llm.support import (
    alternating,
    chat_bodies,
    raw_redis,
    reply,
    seqs_and_roles,
)


def test_an_idempotency_key_replays_the_first_turn_without_a_model_call(fake_openai, session_id):
    first = services.turn_reply(session_id=session_id, text="Hi", context=alice(), idempotency_key="k1")
    again = services.turn_reply(session_id=session_id, text="Hi", context=alice(), idempotency_key="k1")
    assert not first.replayed
    assert again == replace(first, replayed=True)
    assert len(chat_bodies(fake_openai)) == 1
    with pytest.raises(IdempotencyConflict):
        services.turn_reply(session_id=session_id, text="Something else", context=alice(), idempotency_key="k1")
    with pytest.raises(IdempotencyConflict):
        services.turn_reply_again(session_id=session_id, context=alice(), idempotency_key="k1")
    regenerated = services.turn_reply_again(session_id=session_id, context=alice(), idempotency_key="k2")
    assert services.turn_reply_again(session_id=session_id, context=alice(), idempotency_key="k2").replayed
    assert len(chat_bodies(fake_openai)) == 2
    assert seqs_and_roles(session_id) == alternating(2)
    assert regenerated.assistant_message.seq == 2


def _stored(session_id) -> list[tuple[int, str, str]]:
    return [(m.seq, m.role, m.content) for m in services.messages_list(session_id=session_id)]


def _record(session_id, key: str, *, kind: str = "send", text: str = "") -> dict[str, str]:
    digest = store.idempotency(key, kind=kind, text=text).digest
    return raw_redis().hgetall(store.session_keys(session_id).record(digest))


def test_a_retry_of_a_failed_turn_with_its_key_answers_the_stored_message_without_storing_it_again(
    fake_openai, session_id, no_retries
):
    fake_openai.script(Fault.status(500), reply("Yes, here."))
    with pytest.raises(LLMUnavailable):
        services.turn_reply(session_id=session_id, text="Are you there?", context=alice(), idempotency_key="k")
    first_attempt = services.messages_list(session_id=session_id)[0]
    assert _record(session_id, "k", text="Are you there?") == {
        "fingerprint": store.idempotency("k", kind="send", text="Are you there?").fingerprint,
        "user_seq": "1",
    }

    turn = services.turn_reply(session_id=session_id, text="Are you there?", context=alice(), idempotency_key="k")
    assert not turn.replayed
    assert turn.user_message == first_attempt
    assert turn.assistant_message.seq == 2
    assert [m["content"] for m in chat_bodies(fake_openai)[-1]["messages"][1:]] == ["Are you there?"]
    assert _stored(session_id) == [(1, "user", "Are you there?"), (2, "assistant", "Yes, here.")]
    assert set(_record(session_id, "k", text="Are you there?")) == {"fingerprint", "turn"}

    requests = len(fake_openai.requests)
    again = services.turn_reply(session_id=session_id, text="Are you there?", context=alice(), idempotency_key="k")
    assert again == replace(turn, replayed=True)
    assert len(fake_openai.requests) == requests
    assert len(_stored(session_id)) == 2
    assert raw_redis().zcard(store.session_keys(session_id).lock.queue) == 0


def test_a_pending_key_with_another_request_is_refused_and_stores_nothing(fake_openai, session_id, no_retries):
    fake_openai.script(Fault.status(500))
    with pytest.raises(LLMUnavailable):
        services.turn_reply(session_id=session_id, text="Hi", context=alice(), idempotency_key="k")
    record = _record(session_id, "k", text="Hi")
    requests = len(fake_openai.requests)
    with pytest.raises(IdempotencyConflict):
        services.turn_reply(session_id=session_id, text="Something else", context=alice(), idempotency_key="k")
    with pytest.raises(IdempotencyConflict):
        services.turn_reply_again(session_id=session_id, context=alice(), idempotency_key="k")
    assert len(fake_openai.requests) == requests
    assert _stored(session_id) == [(1, "user", "Hi")]
    assert _record(session_id, "k", text="Hi") == record
    assert raw_redis().zcard(store.session_keys(session_id).lock.queue) == 0


def test_a_retry_with_its_key_after_the_conversation_moved_on_is_refused(fake_openai, session_id, no_retries):
    fake_openai.script(Fault.status(500))
    with pytest.raises(LLMUnavailable):
        services.turn_reply(session_id=session_id, text="First", context=alice(), idempotency_key="k")
    services.turn_reply(session_id=session_id, text="Second", context=alice())
    before, requests = _stored(session_id), len(fake_openai.requests)
    with pytest.raises(IdempotencyConflict, match="moved on"):
        services.turn_reply(session_id=session_id, text="First", context=alice(), idempotency_key="k")
    assert _stored(session_id) == before
    assert len(fake_openai.requests) == requests


def test_a_retry_with_its_key_replaces_a_reply_stored_since_by_a_regenerate(fake_openai, session_id, no_retries):
    fake_openai.script(Fault.status(500), reply("From the regenerate."), reply("From the retry."))
    with pytest.raises(LLMUnavailable):
        services.turn_reply(session_id=session_id, text="Dinner?", context=alice(), idempotency_key="k")
    services.turn_reply_again(session_id=session_id, context=alice())
    assert _stored(session_id) == [(1, "user", "Dinner?"), (2, "assistant", "From the regenerate.")]
    turn = services.turn_reply(session_id=session_id, text="Dinner?", context=alice(), idempotency_key="k")
    assert (turn.user_message.seq, turn.assistant_message.seq) == (1, 2)
    assert [m["content"] for m in chat_bodies(fake_openai)[-1]["messages"][1:]] == ["Dinner?"]
    assert _stored(session_id) == [(1, "user", "Dinner?"), (2, "assistant", "From the retry.")]


def test_a_regenerate_retried_with_its_key_after_a_failure_replaces_the_reply_once(fake_openai, session_id, no_retries):
    fake_openai.script(reply("First answer."), Fault.status(503), reply("Second answer."))
    services.turn_reply(session_id=session_id, text="Dinner?", context=alice())
    with pytest.raises(LLMUnavailable):
        services.turn_reply_again(session_id=session_id, context=alice(), idempotency_key="r")
    assert _stored(session_id) == [(1, "user", "Dinner?"), (2, "assistant", "First answer.")]
    assert _record(session_id, "r", kind="regenerate")["user_seq"] == "1"

    turn = services.turn_reply_again(session_id=session_id, context=alice(), idempotency_key="r")
    assert (turn.user_message.seq, turn.assistant_message.seq, turn.replayed) == (1, 2, False)
    assert _stored(session_id) == [(1, "user", "Dinner?"), (2, "assistant", "Second answer.")]
    requests = len(fake_openai.requests)
    assert services.turn_reply_again(session_id=session_id, context=alice(), idempotency_key="r") == replace(
        turn, replayed=True
    )
    assert len(fake_openai.requests) == requests
    assert _stored(session_id) == [(1, "user", "Dinner?"), (2, "assistant", "Second answer.")]
