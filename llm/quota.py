"""Per-customer admission, shared by every process through Redis: turns per minute (a sliding window), a daily
token quota (prompt + completion tokens per UTC day), and the other requests per minute (a sliding window too). If
Redis cannot answer, nothing is admitted (fail closed)."""

import hashlib
import math
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import redis

from llm import store
from llm.conf import LLMSettings
from llm.errors import RequestRateLimited, TokenQuotaExceeded, TurnRateLimited

_WINDOW_SECONDS = 60
# A day's counter outlives its day by this much, so a turn finishing just after midnight still finds it.
_DAY_KEY_SLACK_SECONDS = 3600
# How long a usage id is remembered as counted: far beyond the client's one retry.
_COUNTED_KEEP_SECONDS = 600

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
    admitted(store.run(client, admit_call(cfg, customer_id=customer_id)))


def admit_call(cfg: LLMSettings, *, customer_id: int) -> store.Call:
    """The ADMIT script counting one turn (to send alone, or beside a read of the session in one round trip)."""
    now = datetime.now(UTC)
    return ADMIT.call(
        (turns_key(customer_id), tokens_key(customer_id, now)),
        (uuid4().hex, cfg.turns_per_minute, _WINDOW_SECONDS * 1000, cfg.daily_token_quota),
    )


def admitted(result: list) -> None:
    """ADMIT's answer: nothing when admitted, else TokenQuotaExceeded / TurnRateLimited with `retry_after`."""
    status, wait_ms = result
    if status == b"tokens":
        raise TokenQuotaExceeded(retry_after=_seconds_to_midnight(datetime.now(UTC)))
    if status == b"turns":
        raise TurnRateLimited(retry_after=max(1, math.ceil(wait_ms / 1000)))


def requests_key(customer_id: int, scope: str) -> str:
    return f"quota:{{{customer_id}}}:requests:{scope}"


def request_admit(client: redis.Redis, cfg: LLMSettings, *, customer_id: int, scope: str) -> None:
    """Count one request of `scope` in the customer's sliding minute (THROTTLE_REQUESTS_PER_MINUTE; 0: no limit,
    and no round trip), or raise RequestRateLimited with `retry_after` seconds. One round trip (the THROTTLE
    script); StoreUnavailable if Redis cannot answer."""
    if cfg.requests_per_minute <= 0:
        return
    call = store.THROTTLE.call(
        (requests_key(customer_id, scope),), (uuid4().hex, cfg.requests_per_minute, _WINDOW_SECONDS * 1000)
    )
    status, wait_ms = store.run(client, call)
    if status == b"requests":
        raise RequestRateLimited(retry_after=max(1, math.ceil(wait_ms / 1000)))


def attempts_key(scope: str, ident: str) -> str:
    """The counter of `ident`'s attempts in `scope`; `ident` (an address, a username) is kept as a digest only."""
    digest = hashlib.sha256(f"{scope}\0{ident}".encode()).hexdigest()[:32]
    return f"attempts:{{{scope}:{digest}}}"


def attempt_admit(client: redis.Redis, *, scope: str, ident: str, limit: int, window_seconds: int) -> None:
    """Count one attempt of `ident` in `scope` within a sliding window of `window_seconds`, or raise
    RequestRateLimited with `retry_after` once `limit` attempts are in it (0: no limit, and no round trip). One round
    trip (the THROTTLE script); StoreUnavailable if Redis cannot answer."""
    if limit <= 0:
        return
    call = store.THROTTLE.call((attempts_key(scope, ident),), (uuid4().hex, limit, window_seconds * 1000))
    status, wait_ms = store.run(client, call)
    if status == b"requests":
        raise RequestRateLimited(retry_after=max(1, math.ceil(wait_ms / 1000)))


def counted_key(customer_id: int) -> str:
    return f"quota:{{{customer_id}}}:counted"


def usage_calls(*, customer_id: int, tokens: int, usage_id: str) -> list[store.Call]:
    """The USAGE script adding a turn's tokens to today's usage once per `usage_id` (a retried round trip counts
    nothing more), to ride in the turn's last round trip. Its keys carry the customer's hash tag, FINISH's the
    session's: one script could not hold both on a cluster, hence a script of its own in the same round trip."""
    if tokens <= 0:
        return []
    now = datetime.now(UTC)
    return [
        store.USAGE.call(
            (tokens_key(customer_id, now), counted_key(customer_id)),
            (usage_id, tokens, _seconds_to_midnight(now) + _DAY_KEY_SLACK_SECONDS, _COUNTED_KEEP_SECONDS * 1000),
        )
    ]
