"""The public services around turns: moods, reading and erasing a conversation, summarizing a session."""

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from llm import quota, services, store
from llm.conf import get_settings
from llm.errors import StoreUnavailable
from tests.fakes.openai import Reply
from tests.llm.contexts import alice
from tests.llm.support import chat_bodies, raw_redis, reply


@pytest.fixture
def session_id():
    return uuid4()


def test_a_mood_set_by_the_customer_is_stored_with_its_source_and_ttl(settings, session_id):
    settings.MOOD_TTL_SECONDS = 600
    assert services.conversation_get(session_id=session_id).mood is None
    mood = services.mood_set(session_id=session_id, mood="calm")
    assert (mood.mood, mood.source) == ("calm", "user")
    assert services.conversation_get(session_id=session_id).mood == mood
    assert 0 < raw_redis().ttl(store.session_keys(session_id).mood) <= 600


def test_an_unknown_mood_is_refused(session_id):
    with pytest.raises(services.InvalidMood, match="unknown mood") as refused:
        services.mood_set(session_id=session_id, mood="hangry")
    assert refused.value.code == "invalid_request"
    assert services.conversation_get(session_id=session_id).mood is None


def test_a_conversation_holds_the_messages_the_mood_and_the_rolling_summary(session_id):
    assert services.messages_list(session_id=session_id) == ()
    services.turn_reply(session_id=session_id, text="Hi", context=alice())
    services.mood_set(session_id=session_id, mood="excited")
    raw_redis().hset(store.session_keys(session_id).summary, mapping={"text": "They said hi before.", "through": 0})
    conversation = services.conversation_get(session_id=session_id)
    assert next(m.content for m in conversation.messages) == "Hi"
    assert conversation.messages == services.messages_list(session_id=session_id)
    assert conversation.mood.mood == "excited"
    assert conversation.rolling_summary == "They said hi before."


def test_erasing_a_session_deletes_all_its_keys_and_nothing_else(session_id):
    other = uuid4()
    services.turn_reply(session_id=other, text="Keep me", context=alice())
    services.turn_reply(session_id=session_id, text="Forget me", context=alice(), idempotency_key="k")
    services.mood_set(session_id=session_id, mood="sad")
    services.session_delete(session_id=session_id)
    # Only the closed marker is left: no content, and it expires once any turn still in line has given up.
    closed = store.session_keys(session_id).lock.closed
    assert list(raw_redis().scan_iter(match=f"chat:{{{session_id}}}:*")) == [closed]
    assert 0 < raw_redis().pttl(closed) <= (get_settings().turn_lock_wait_seconds + 2) * 1000
    assert services.conversation_get(session_id=session_id).messages == ()
    assert next(m.content for m in services.messages_list(session_id=other)) == "Keep me"
    # Nothing is written into an erased session any more: neither a turn nor a mood.
    with pytest.raises(services.SessionClosed):
        services.turn_reply(session_id=session_id, text="Forget me", context=alice(), idempotency_key="k")
    with pytest.raises(services.SessionClosed):
        services.mood_set(session_id=session_id, mood="calm")
    assert list(raw_redis().scan_iter(match=f"chat:{{{session_id}}}:*")) == [closed]


def test_a_session_summary_covers_the_rolling_summary_and_the_messages_and_names_the_final_mood(
    fake_openai, session_id
):
    fake_openai.script(reply("Try bibimbap.", mood="happy"), Reply("  They chose bibimbap.  "))
    services.turn_reply(session_id=session_id, text="Lunch idea?", context=alice())
    raw_redis().hset(store.session_keys(session_id).summary, mapping={"text": "Earlier: noodles.", "through": 0})
    summary = services.session_summarize(session_id=session_id, context=alice())
    assert (summary.text, summary.final_mood, summary.provider) == ("They chose bibimbap.", "happy", "openai")
    body = chat_bodies(fake_openai)[-1]
    assert "response_format" not in body
    payload = body["messages"][-1]["content"]
    assert "Earlier: noodles." in payload
    assert "Lunch idea?" in payload
    assert "Try bibimbap." in payload


def test_an_empty_session_is_summarized_without_a_model_call(fake_openai, session_id):
    summary = services.session_summarize(session_id=session_id, context=alice())
    assert (summary.text, summary.final_mood) == ("", "")
    assert fake_openai.requests == []


def test_the_check_reports_the_offline_provider():
    result = services.llm_check()
    assert result.ok
    assert result.provider == "offline"


def test_with_redis_down_every_service_fails_closed(settings, closed_port, session_id):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"
    calls = [
        lambda: services.messages_list(session_id=session_id),
        lambda: services.conversation_get(session_id=session_id),
        lambda: services.mood_set(session_id=session_id, mood="calm"),
        lambda: services.session_summarize(session_id=session_id, context=alice()),
        lambda: services.session_delete(session_id=session_id),
    ]
    for call in calls:
        with pytest.raises(StoreUnavailable):
            call()
    assert not services.store_health().ok


def test_an_end_of_session_summary_counts_its_tokens_against_the_daily_quota(fake_openai, session_id):
    # Before the fix, the summary's model call spent tokens that no quota saw.
    fake_openai.script(reply("Try bibimbap."), Reply("They chose bibimbap."))
    services.turn_reply(session_id=session_id, text="Lunch idea?", context=alice())
    key = quota.tokens_key(alice().customer_id, datetime.now(UTC))
    before = int(raw_redis().get(key))
    services.session_summarize(session_id=session_id, context=alice())
    assert len(chat_bodies(fake_openai)) == 2
    assert int(raw_redis().get(key)) - before > 20  # the summary's prompt alone is longer than that
