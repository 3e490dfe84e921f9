"""Per-customer admission, shared by every process through Redis: turns per minute (a sliding window) and a daily
token quota (prompt + completion tokens per UTC day). If Redis cannot answer, no turn is admitted (fail closed)."""

import math
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import redis

from llm import store
from llm.conf import LLMSettings
from llm.errors import TokenQuotaExceeded, TurnRateLimited

_WINDOW_SECONDS = 60
# A day's counter outlives its day by this much, so a turn finishing just after midnight still finds it.
_DAY_KEY_SLACK_SECONDS = 3600

# The ADMIT script (llm/store/lua/admit.lua): KEYS turns (sorted set: turn id -> admitted at, ms), today's tokens.
ADMIT = store.ADMIT


def turns_key(customer_id: int) -> str:
    return f"quota:{{{customer_id}}}:turns"


def tokens_key(customer_id: int, day: datetime) -> str:
    return f"quota:{{{customer_id}}}:tokens:{day:%Y%m%d}"


def _seconds_to_midnight(now: datetime) -> int:
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((midnight - now).total_seconds()))


def admit(client: redis.Redis, cfg: LLMSettings, *, customer_id: int) -> None:
    """Count one turn, or raise TokenQuotaExceeded / TurnRateLimited with `retry_after` seconds."""
    now = datetime.now(UTC)
    call = ADMIT.call(
        (turns_key(customer_id), tokens_key(customer_id, now)),
        (uuid4().hex, cfg.turns_per_minute, _WINDOW_SECONDS * 1000, cfg.daily_token_quota),
    )
    status, wait_ms = store.run(client, call)
    if status == b"tokens":
        raise TokenQuotaExceeded(retry_after=_seconds_to_midnight(now))
    if status == b"turns":
        raise TurnRateLimited(retry_after=max(1, math.ceil(wait_ms / 1000)))


def usage_calls(*, customer_id: int, tokens: int) -> list[store.Call]:
    """The commands that add a turn's tokens to today's usage, to ride in the turn's last round trip."""
    if tokens <= 0:
        return []
    now = datetime.now(UTC)
    key = tokens_key(customer_id, now)
    return [
        store.Call(("INCRBY", key, tokens)),
        store.Call(("EXPIRE", key, _seconds_to_midnight(now) + _DAY_KEY_SLACK_SECONDS)),
    ]
