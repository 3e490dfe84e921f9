"""The llm app's view of the project settings, read once into a frozen dataclass.

The defaults are config/settings.py's; this module only reads them.

This module and `llm.apps` are the only places in `llm` that import Django.
"""

from dataclasses import dataclass
from functools import cache

from django.conf import settings


@dataclass(frozen=True, slots=True)
class LLMSettings:
    redis_url: str
    redis_connect_timeout: float
    redis_socket_timeout: float
    api_key: str
    base_url: str
    model: str
    connect_timeout: float
    read_timeout: float
    max_retries: int
    max_retry_after: float
    context_budget: int
    reply_reserve: int
    chat_ttl_seconds: int
    mood_ttl_seconds: int
    max_stored_messages: int
    turn_lock_ttl_seconds: float
    turn_lock_wait_seconds: float
    turn_deadline_seconds: float
    turns_per_minute: int
    requests_per_minute: int  # the requests that are not turns; 0: no limit
    daily_token_quota: int
    recommendations_max: int
    stream_coalesce_seconds: float  # deltas of a streamed turn coalesced per window (streams.py)
    structured_output: str  # one of llm.structured.SETTINGS

    @property
    def provider(self) -> str:
        """`openai` when an endpoint is configured, else the deterministic `offline` provider."""
        return "openai" if (self.api_key or self.base_url) else "offline"


@cache
def get_settings() -> LLMSettings:
    return LLMSettings(
        redis_url=settings.REDIS_URL,
        redis_connect_timeout=settings.REDIS_SOCKET_CONNECT_TIMEOUT,
        redis_socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
        api_key=settings.OPENAI_API_KEY,
        base_url=settings.OPENAI_BASE_URL,
        model=settings.LLM_MODEL,
        connect_timeout=settings.LLM_CONNECT_TIMEOUT,
        read_timeout=settings.LLM_READ_TIMEOUT,
        max_retries=settings.LLM_MAX_RETRIES,
        max_retry_after=settings.LLM_MAX_RETRY_AFTER,
        context_budget=settings.LLM_CONTEXT_BUDGET,
        reply_reserve=settings.LLM_REPLY_RESERVE,
        chat_ttl_seconds=settings.CHAT_TTL_SECONDS,
        mood_ttl_seconds=settings.MOOD_TTL_SECONDS,
        max_stored_messages=settings.CHAT_MAX_STORED_MESSAGES,
        turn_lock_ttl_seconds=settings.TURN_LOCK_TTL_SECONDS,
        turn_lock_wait_seconds=settings.TURN_LOCK_WAIT_SECONDS,
        turn_deadline_seconds=settings.TURN_DEADLINE_SECONDS,
        turns_per_minute=settings.THROTTLE_TURNS_PER_MINUTE,
        requests_per_minute=settings.THROTTLE_REQUESTS_PER_MINUTE,
        daily_token_quota=settings.DAILY_TOKEN_QUOTA,
        recommendations_max=settings.RECOMMENDATIONS_MAX,
        stream_coalesce_seconds=settings.SSE_COALESCE_MS / 1000,
        structured_output=settings.LLM_STRUCTURED_OUTPUT,
    )
