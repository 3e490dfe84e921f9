"""The public face of `llm`: model calls and conversation state in Redis. Plain dataclasses in and out.

Interface only in parts: functions raising NotImplementedError are being implemented (issue: llm).
"""

from collections.abc import AsyncIterator
from uuid import UUID

import redis

from llm.conf import get_settings
from llm.data import (
    CheckResult,
    Conversation,
    Delta,
    Health,
    Message,
    Mood,
    SessionSummary,
    Turn,
    TurnContext,
)
from llm.redis import sync_client


def store_health() -> Health:
    """Whether the conversation store (Redis) answers a PING within its socket timeout."""
    try:
        sync_client().ping()
    except redis.RedisError as exc:
        return Health(ok=False, detail=f"redis unreachable ({type(exc).__name__})")
    return Health(ok=True, detail="ok")


def provider_health() -> Health:
    """Whether the model provider is configured (no network call: readiness must stay cheap)."""
    cfg = get_settings()
    if cfg.provider == "offline":
        return Health(ok=True, detail="offline provider")
    if not cfg.model:
        return Health(ok=False, detail="LLM_MODEL is empty")
    return Health(ok=True, detail=f"openai-compatible endpoint, model {cfg.model}")


def provider_name() -> str:
    """`openai` or `offline`: which provider answers turns with the current settings."""
    return get_settings().provider


def turn_admit(*, customer_id: int) -> None:
    """Count one turn against the customer's rate limit and check the daily token quota (shared by every
    process through Redis). Raises TurnRateLimited / TokenQuotaExceeded with retry_after; StoreUnavailable if
    Redis is down (fail closed)."""
    raise NotImplementedError


def turn_reply(*, session_id: UUID, text: str, context: TurnContext, idempotency_key: str | None = None) -> Turn:
    """Store the user's message, answer it within the token budget, store the reply; one turn per session at
    a time (FIFO). With an idempotency key already used for the same text, the first turn is returned
    (`replayed=True`) without a model call. On a model failure the user message stays stored and the typed
    error is raised."""
    raise NotImplementedError


def turn_reply_stream(
    *, session_id: UUID, text: str, context: TurnContext, idempotency_key: str | None = None
) -> AsyncIterator[Delta | Turn]:
    """As `turn_reply`, asynchronously: yields `Delta`s as the model produces them, then the stored `Turn`.
    If the consumer stops iterating, the reply still completes and is stored."""
    raise NotImplementedError


def turn_regenerate(*, session_id: UUID, context: TurnContext, idempotency_key: str | None = None) -> Turn:
    """Answer the last user message again, replacing the reply after it if there is one (seq stays
    contiguous). Raises NothingToRegenerate when the session has no user message."""
    raise NotImplementedError


def messages_list(*, session_id: UUID) -> tuple[Message, ...]:
    """The session's stored messages, oldest first."""
    raise NotImplementedError


def conversation_get(*, session_id: UUID) -> Conversation:
    """Messages, mood and rolling summary of the session."""
    raise NotImplementedError


def mood_get(*, session_id: UUID) -> Mood | None:
    """The session's current mood, or None."""
    raise NotImplementedError


def mood_set(*, session_id: UUID, mood: str) -> Mood:
    """Set the mood explicitly (`source: user`), 24 h TTL. Raises ValueError for a mood outside MOODS."""
    raise NotImplementedError


def session_summarize(*, session_id: UUID, context: TurnContext) -> SessionSummary:
    """A concise summary of the whole session for the caller to persist (model or offline provider)."""
    raise NotImplementedError


def session_erase(*, session_id: UUID) -> None:
    """Delete every Redis key of the session."""
    raise NotImplementedError


def llm_check() -> CheckResult:
    """Verify the tokenizer loads offline and the configured endpoint answers (or the offline provider)."""
    raise NotImplementedError
