"""Sync turns through the fake OpenAI server (or the offline provider): what the model sees, what is stored, and how
failures, retries, regeneration, folding, TTLs and concurrency leave the session."""

import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from llm import quota, services, store, tokens, window
from llm.conf import get_settings
from llm.errors import (
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
    MessageTooLong,
    NothingToRegenerate,
    StoreUnavailable,
)
from tests.fakes.openai import Fault, Reply
from tests.llm.contexts import alice, bob
from tests.llm.support import (
    alternating,
    chat_bodies,
    is_reply_request,
    raw_redis,
    reply,
    seqs_and_roles,
    snapshot,
    text_with_tokens,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_model_sees_the_customer_and_this_session_only_within_the_budget(fake_openai, session_id):
    other = uuid4()
    services.turn_reply(session_id=other, text="Bob's private question", context=bob())
    services.turn_reply(session_id=session_id, text="Dinner near home?", context=alice())
    fake_openai.script(reply("Try tteokbokki.", mood="happy"))
    turn = services.turn_reply(session_id=session_id, text="Something cheaper?", context=alice())

    body = chat_bodies(fake_openai)[-1]
    system = body["messages"][0]
    assert system["role"] == "system"
    assert "Alice" in system["content"]
    assert "peanut" in system["content"]
    assert "Mapo-gu" in system["content"]
    assert [m["content"] for m in body["messages"][1:]] == ["Dinner near home?", "Fake reply.", "Something cheaper?"]
    assert "Bob" not in str(body["messages"])
    cfg = get_settings()
    assert tokens.count_request(body["messages"], model=cfg.model) <= cfg.context_budget - cfg.reply_reserve
    assert body["max_tokens"] == cfg.reply_reserve
    assert is_reply_request(body)
    assert turn.provider == "openai"
    assert (turn.user_message.seq, turn.assistant_message.seq) == (3, 4)
    assert turn.assistant_message.content == "Try tteokbokki."
    assert turn.mood.mood == "happy"
    assert turn.mood.source == "inferred"


def test_messages_are_stored_in_order_with_the_token_counts_of_their_text(session_id):
    for text in ("Hi!", "매운 음식 추천해 주세요", "Thanks"):
        services.turn_reply(session_id=session_id, text=text, context=alice())
    stored = services.messages_list(session_id=session_id)
    assert [(m.seq, m.role) for m in stored] == alternating(6)
    model = get_settings().model
    assert all(m.tokens == tokens.count_message(m.role, m.content, model=model) for m in stored)
    assert stored[2].content == "매운 음식 추천해 주세요"


def test_a_message_that_exactly_fits_is_answered_and_one_token_more_is_refused_before_anything(
    settings, fake_openai, session_id
):
    settings.LLM_CONTEXT_BUDGET = 800
    settings.LLM_REPLY_RESERVE = 200
    cfg = get_settings()
    room = window.prompt(alice(), cfg).tail_budget() - tokens.count_message("user", "", model=cfg.model)
    services.turn_reply(session_id=session_id, text=text_with_tokens(room, model=cfg.model), context=alice())
    body = chat_bodies(fake_openai)[-1]
    assert tokens.count_request(body["messages"], model=cfg.model) == cfg.context_budget - cfg.reply_reserve

    before, requests = snapshot(), len(fake_openai.requests)
    with pytest.raises(MessageTooLong):
        services.turn_reply(session_id=session_id, text=text_with_tokens(room + 1, model=cfg.model), context=alice())
    assert len(fake_openai.requests) == requests
    assert snapshot() == before


def test_a_long_history_is_windowed_and_folded_so_nothing_is_forgotten_with_one_call_per_turn(
    settings, fake_openai, session_id
):
    settings.LLM_CONTEXT_BUDGET = 900
    settings.LLM_REPLY_RESERVE = 100
    folds = iter(range(1, 100))

    def respond(body):
        if is_reply_request(body):
            return reply(f"Noted: {body['messages'][-1]['content'][:12]}")
        return Reply(f"SUMMARY-{next(folds)}")

    fake_openai.set_responder(respond)
    turns = 14
    for i in range(turns):
        services.turn_reply(session_id=session_id, text=f"turn {i:02d} " + "tell me more " * 12, context=alice())

    bodies = chat_bodies(fake_openai)
    replies = [b for b in bodies if is_reply_request(b)]
    fold_count = len(bodies) - len(replies)
    assert len(replies) == turns
    assert 1 <= fold_count <= turns // 3  # folds are batched, not one per turn
    cfg = get_settings()
    folded: set[str] = set()  # "turn NN" of every customer message some fold was given
    seen_folds = 0
    for body in bodies:
        if not is_reply_request(body):
            seen_folds += 1
            lines = body["messages"][1]["content"].splitlines()
            folded |= {line.removeprefix("customer: ")[:7] for line in lines if line.startswith("customer: ")}
            continue
        assert tokens.count_request(body["messages"], model=cfg.model) <= cfg.context_budget - cfg.reply_reserve
        if seen_folds:
            assert f"SUMMARY-{seen_folds}" in body["messages"][0]["content"]
        in_window = {m["content"][:7] for m in body["messages"][1:] if m["role"] == "user"}
        asked = int(body["messages"][-1]["content"][5:7])
        for earlier in range(asked):
            assert f"turn {earlier:02d}" in in_window | folded, f"turn {earlier} forgotten at turn {asked}"
    summary = raw_redis().hgetall(store.session_keys(session_id).summary)
    assert summary["text"] == f"SUMMARY-{fold_count}"
    assert int(summary["through"]) > 0


def test_a_failed_fold_does_not_fail_the_turn_and_is_tried_again_later(
    settings, fake_openai, session_id, no_retries, caplog
):
    settings.LLM_CONTEXT_BUDGET = 760  # the bare system prompt with its rules takes most of it
    settings.LLM_REPLY_RESERVE = 100
    failing = [True]

    def respond(body):
        if is_reply_request(body):
            return reply("ok")
        return Fault.status(500) if failing[0] else Reply("SUMMARY")

    fake_openai.set_responder(respond)
    text = "tell me about dinner " * 15
    with caplog.at_level(logging.WARNING, logger="llm.turns"):
        for _ in range(6):
            services.turn_reply(session_id=session_id, text=text, context=alice())
    warnings = [r for r in caplog.records if r.message == "rolling summary fold failed"]
    assert warnings
    assert all(r.error == "llm_unavailable" for r in warnings)
    assert "dinner" not in caplog.text
    assert len(seqs_and_roles(session_id)) == 12
    failing[0] = False
    services.turn_reply(session_id=session_id, text=text, context=alice())
    assert services.conversation_get(session_id=session_id).rolling_summary == "SUMMARY"


def test_every_key_of_the_session_gets_the_ttl_and_each_turn_refreshes_it(settings, fake_openai, session_id):
    keys = store.session_keys(session_id)
    fake_openai.script(reply("hello", mood="calm"))
    services.turn_reply(session_id=session_id, text="hi", context=alice(), idempotency_key="first")
    record = keys.record(store.idempotency("first", kind="send", text="hi").digest)
    raw_redis().hset(keys.summary, mapping={"text": "earlier", "through": 0})
    live = [keys.messages, keys.mood, keys.idempotency, record]
    assert all(raw_redis().ttl(key) > 86_000 for key in live)
    for key in [*live, keys.summary]:
        raw_redis().expire(key, 100)
    services.turn_reply(session_id=session_id, text="again", context=alice())
    assert all(raw_redis().ttl(key) > 86_000 for key in (keys.messages, keys.mood, keys.summary, keys.idempotency))
    assert 0 < raw_redis().ttl(record) <= 100  # an idempotency record lives CHAT_TTL_SECONDS from its turn
    assert raw_redis().zcard(keys.lock.queue) == 0


def test_a_model_failure_keeps_the_user_message_and_regenerate_completes_the_turn(fake_openai, session_id, no_retries):
    fake_openai.script(Fault.status(503))
    with pytest.raises(LLMUnavailable):
        services.turn_reply(session_id=session_id, text="Are you there?", context=alice())
    assert seqs_and_roles(session_id) == [(1, "user")]
    assert raw_redis().zcard(store.session_keys(session_id).lock.queue) == 0

    turn = services.turn_reply_again(session_id=session_id, context=alice())
    assert (turn.user_message.seq, turn.user_message.content, turn.assistant_message.seq) == (1, "Are you there?", 2)
    assert chat_bodies(fake_openai)[-1]["messages"][-1] == {"role": "user", "content": "Are you there?"}
    assert seqs_and_roles(session_id) == alternating(2)


def test_a_failed_turn_raises_the_model_error_built_with_what_it_left_stored(fake_openai, session_id, no_retries):
    fake_openai.script(Fault.rate_limited(retry_after=7), Fault.rate_limited(retry_after=9))
    with pytest.raises(LLMRateLimited) as first:
        services.turn_reply(session_id=session_id, text="Are you there?", context=alice(), idempotency_key="k")
    assert (first.value.messages_added, first.value.retry_after, first.value.code) == (1, 7, "llm_unavailable")
    with pytest.raises(LLMRateLimited) as retried:  # answers the message the first attempt stored: adds nothing
        services.turn_reply(session_id=session_id, text="Are you there?", context=alice(), idempotency_key="k")
    assert (retried.value.messages_added, retried.value.retry_after) == (0, 9)
    assert seqs_and_roles(session_id) == [(1, "user")]


def test_a_send_after_a_failed_reply_is_stored_too_and_the_model_sees_both(fake_openai, session_id, no_retries):
    fake_openai.script(Fault.status(500))
    with pytest.raises(LLMUnavailable):
        services.turn_reply(session_id=session_id, text="First question", context=alice())
    turn = services.turn_reply(session_id=session_id, text="Second question", context=alice())
    assert [m["content"] for m in chat_bodies(fake_openai)[-1]["messages"][1:]] == ["First question", "Second question"]
    assert seqs_and_roles(session_id) == [(1, "user"), (2, "user"), (3, "assistant")]
    assert turn.user_message.seq == 2


def test_regenerate_replaces_the_last_reply_in_place(fake_openai, session_id):
    services.turn_reply(session_id=session_id, text="Dinner?", context=alice())
    fake_openai.script(reply("A better answer"))
    turn = services.turn_reply_again(session_id=session_id, context=alice())
    assert turn.assistant_message.seq == 2
    assert [m["content"] for m in chat_bodies(fake_openai)[-1]["messages"][1:]] == ["Dinner?"]
    assert [m.content for m in services.messages_list(session_id=session_id)] == ["Dinner?", "A better answer"]


def test_there_is_nothing_to_regenerate_in_an_empty_session(fake_openai, session_id):
    with pytest.raises(NothingToRegenerate):
        services.turn_reply_again(session_id=session_id, context=alice())
    assert fake_openai.requests == []
    assert raw_redis().zcard(store.session_keys(session_id).lock.queue) == 0


def test_an_inferred_mood_is_stored_unless_the_customer_set_one(fake_openai, session_id):
    fake_openai.script(reply("Rest well.", mood="tired"), reply("Cheer up!", mood="sad"))
    assert services.turn_reply(session_id=session_id, text="Long day", context=alice()).mood.mood == "tired"
    assert services.conversation_get(session_id=session_id).mood.source == "inferred"
    services.mood_set(session_id=session_id, mood="happy")
    turn = services.turn_reply(session_id=session_id, text="Still here", context=alice())
    assert (turn.mood.mood, turn.mood.source) == ("happy", "user")
    assert "happy (as the customer said)" in chat_bodies(fake_openai)[-1]["messages"][0]["content"]


def test_a_turn_slower_than_its_lock_ttl_renews_its_lease_and_is_stored(settings, fake_openai, session_id):
    # Before the lease was renewed, the slow turn lost its lock after 1 s: the next turn went in, and the slow one's
    # reply was refused (TurnInProgress) after the model had given it.
    settings.TURN_LOCK_TTL_SECONDS = 1
    settings.TURN_DEADLINE_SECONDS = 5
    fake_openai.script(reply("slow but stored", delay=1.6), reply("after it"))
    outcome = {}

    def slow_turn():
        outcome["turn"] = services.turn_reply(session_id=session_id, text="slow", context=alice())

    slow = threading.Thread(target=slow_turn)
    slow.start()
    fake_openai.wait_for_requests(1)
    turn = services.turn_reply(session_id=session_id, text="next", context=alice())
    slow.join(timeout=5)
    assert outcome["turn"].assistant_message.content == "slow but stored"
    assert turn.assistant_message.content == "after it"
    assert [(m.seq, m.content) for m in services.messages_list(session_id=session_id)] == [
        (1, "slow"),
        (2, "slow but stored"),
        (3, "next"),
        (4, "after it"),
    ]


def test_a_turn_past_its_deadline_is_a_timeout_keeps_its_message_and_frees_the_lock(settings, fake_openai, session_id):
    settings.TURN_DEADLINE_SECONDS = 0.5
    fake_openai.script(reply("too late", delay=2.0), reply("in time"))
    started = time.monotonic()
    with pytest.raises(LLMTimeout) as caught:
        services.turn_reply(session_id=session_id, text="slow", context=alice())
    assert time.monotonic() - started < 1.5
    assert caught.value.messages_added == 1
    settings.TURN_DEADLINE_SECONDS = 30
    turn = services.turn_reply_again(session_id=session_id, context=alice())
    assert turn.assistant_message.content == "in time"
    assert [(m.seq, m.content) for m in services.messages_list(session_id=session_id)] == [
        (1, "slow"),
        (2, "in time"),
    ]


def test_with_redis_down_a_turn_fails_closed_before_any_model_call(settings, fake_openai, closed_port, session_id):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"
    with pytest.raises(StoreUnavailable):
        services.turn_reply(session_id=session_id, text="Hello?", context=alice())
    with pytest.raises(StoreUnavailable):
        services.turn_reply_again(session_id=session_id, context=alice())
    assert fake_openai.requests == []


def test_after_redis_is_flushed_the_session_starts_over_with_the_customer_context(fake_openai, session_id):
    services.mood_set(session_id=session_id, mood="tired")
    services.turn_reply(session_id=session_id, text="Before the flush", context=alice())
    raw_redis().flushdb()
    turn = services.turn_reply(session_id=session_id, text="After the flush", context=alice())
    assert (turn.user_message.seq, turn.mood) == (1, None)
    body = chat_bodies(fake_openai)[-1]
    assert "Alice" in body["messages"][0]["content"]
    assert "Current mood: not known" in body["messages"][0]["content"]
    assert [m["content"] for m in body["messages"][1:]] == ["After the flush"]


def test_the_tokens_of_a_fold_count_even_when_the_reply_after_it_fails(settings, fake_openai, session_id, no_retries):
    # Before the fix, a turn whose fold succeeded and whose reply then failed counted no token: the fold's were lost.
    settings.LLM_CONTEXT_BUDGET = 760  # the bare system prompt with its rules takes most of it
    settings.LLM_REPLY_RESERVE = 100
    replies_fail = [False]

    def respond(body):
        if is_reply_request(body):
            return Fault.status(500) if replies_fail[0] else reply("ok")
        return Reply("SUMMARY")

    fake_openai.set_responder(respond)
    text = "tell me about dinner " * 15
    key = quota.tokens_key(alice().customer_id, datetime.now(UTC))
    folds = 0
    for _ in range(12):
        before = len(chat_bodies(fake_openai))
        spent = int(raw_redis().get(key) or 0)
        replies_fail[0] = True
        with pytest.raises(LLMUnavailable):
            services.turn_reply(session_id=session_id, text=text, context=alice())
        replies_fail[0] = False
        bodies = chat_bodies(fake_openai)[before:]
        if any(not is_reply_request(b) for b in bodies):  # this turn folded, then its reply failed
            folds += 1
            assert int(raw_redis().get(key) or 0) > spent, "the fold's tokens were not counted"
            break
        services.turn_reply_again(session_id=session_id, context=alice())
    assert folds == 1
