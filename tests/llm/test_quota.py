"""Admission: turns per minute and the daily token quota, per customer, shared through Redis, failing closed."""

import contextlib
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
import redis

from llm import quota, services, store
from llm.errors import StoreUnavailable, TokenQuotaExceeded, TurnRateLimited
from llm.redis import sync_client
from tests.llm.contexts import alice, bob
from tests.llm.support import raw_redis, reply


def _seconds_to_utc_midnight() -> float:
    now = datetime.now(UTC)
    return ((now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0) - now).total_seconds()


def test_turns_beyond_the_rate_are_refused_with_the_wait_until_one_leaves_the_minute(settings):
    settings.THROTTLE_TURNS_PER_MINUTE = 3
    for _ in range(3):
        services.turn_admit(customer_id=1)
    with pytest.raises(TurnRateLimited) as refused:
        services.turn_admit(customer_id=1)
    assert 55 <= refused.value.retry_after <= 60
    assert refused.value.code == "throttled"
    services.turn_admit(customer_id=2)  # another customer has a rate of their own
    assert raw_redis().zcard(quota.turns_key(1)) == 3  # a refused turn is not counted
    assert 0 < raw_redis().pttl(quota.turns_key(1)) <= 60_000


def test_a_turn_adds_its_tokens_to_the_day_and_a_spent_quota_refuses_until_utc_midnight(settings):
    services.turn_admit(customer_id=1)
    turn = services.turn_reply(session_id=uuid4(), text="Something warm for dinner?", context=alice())
    spent = turn.usage.prompt_tokens + turn.usage.completion_tokens
    key = quota.tokens_key(1, datetime.now(UTC))
    assert int(raw_redis().get(key)) == spent
    assert _seconds_to_utc_midnight() < raw_redis().ttl(key) <= _seconds_to_utc_midnight() + 3601
    settings.DAILY_TOKEN_QUOTA = spent + 1
    services.turn_admit(customer_id=1)  # one token left: admitted
    settings.DAILY_TOKEN_QUOTA = spent
    with pytest.raises(TokenQuotaExceeded) as refused:
        services.turn_admit(customer_id=1)
    assert abs(refused.value.retry_after - _seconds_to_utc_midnight()) <= 2
    assert refused.value.code == "throttled"
    services.turn_admit(customer_id=bob().customer_id)


def test_admission_fails_closed_when_redis_is_down(settings, closed_port):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"
    with pytest.raises(StoreUnavailable):
        services.turn_admit(customer_id=1)


@contextlib.contextmanager
def _first_finish_reply_dropped():
    """The connection drops once, right after the turn's last round trip (FINISH and the usage) reached Redis and
    before its answer came back: redis-py reconnects and sends that whole pipeline again (its one retry)."""
    client = sync_client()
    pool = client.connection_pool
    base = pool.connection_class
    state = {"armed": False, "dropped": 0}

    class Dropping(base):
        def send_packed_command(self, command, check_health=True):
            chunks = command if isinstance(command, list | tuple) else [command]
            if not state["dropped"] and any(store.FINISH.sha.encode() in bytes(chunk) for chunk in chunks):
                state["armed"] = True
            return super().send_packed_command(command, check_health)

        def read_response(self, *args, **kwargs):
            if state["armed"]:
                state["armed"], state["dropped"] = False, state["dropped"] + 1
                self.disconnect()
                raise redis.ConnectionError("connection dropped after the request was sent")
            return super().read_response(*args, **kwargs)

    pool.disconnect()
    pool.connection_class = Dropping
    pool.reset()
    try:
        yield state
    finally:
        pool.disconnect()
        pool.connection_class = base
        pool.reset()


def test_a_finish_round_trip_sent_again_after_a_dropped_connection_counts_the_tokens_once(fake_openai):
    # Before the fix the day's tokens were a bare INCRBY beside FINISH: the retried pipeline counted them twice.
    fake_openai.script(reply("Once."))
    with _first_finish_reply_dropped() as dropped:
        turn = services.turn_reply(session_id=uuid4(), text="Count me once", context=alice())
    assert dropped["dropped"] == 1
    spent = turn.usage.prompt_tokens + turn.usage.completion_tokens
    assert int(raw_redis().get(quota.tokens_key(alice().customer_id, datetime.now(UTC)))) == spent
