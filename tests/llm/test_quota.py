"""Admission: turns per minute and the daily token quota, per customer, shared through Redis, failing closed."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from llm import quota, services
from llm.errors import StoreUnavailable, TokenQuotaExceeded, TurnRateLimited
from tests.llm.contexts import alice, bob
from tests.llm.support import raw_redis


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
