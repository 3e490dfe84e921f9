"""The public face of `llm`, and the only module other apps import: model calls and conversation state in Redis.
Plain dataclasses in and out (re-exported here from llm.data), every failure a type re-exported here from llm.errors.
See llm/README.md for the Redis keys, the turn lock and the round trips of a turn.
"""

from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import redis

from llm import closing, grounding, quota, store, streams, tokens, turns, window
from llm.conf import get_settings
from llm.data import (
    MOODS,
    NO_CONSTRAINTS,
    ROLES,
    Candidate,
    Card,
    CardItem,
    CheckResult,
    Checks,
    Constraints,
    Conversation,
    CustomerFacts,
    Delta,
    Health,
    Message,
    Mood,
    PastSummary,
    RecommendedItem,
    SessionSummary,
    Turn,
    TurnContext,
    Usage,
    Vocabulary,
)
from llm.errors import (
    ConversationMovedOn,
    IdempotencyConflict,
    InvalidMood,
    LLMBadResponse,
    LLMError,
    LLMRateLimited,
    LLMRejected,
    LLMTimeout,
    LLMUnavailable,
    MessageTooLong,
    ModelError,
    NothingToRegenerate,
    RequestRateLimited,
    SessionClosed,
    StoreUnavailable,
    TokenQuotaExceeded,
    TurnInProgress,
    TurnRateLimited,
)
from llm.providers import get_provider
from llm.redis import sync_client
from llm.streams import TurnStream

__all__ = [
    # data
    "MOODS",
    "NO_CONSTRAINTS",
    "ROLES",
    "Candidate",
    "Card",
    "CardItem",
    "CheckResult",
    "Checks",
    "Constraints",
    "Conversation",
    "ConversationMovedOn",
    "CustomerFacts",
    "Delta",
    "Health",
    # errors
    "IdempotencyConflict",
    "InvalidMood",
    "LLMBadResponse",
    "LLMError",
    "LLMRateLimited",
    "LLMRejected",
    "LLMTimeout",
    "LLMUnavailable",
    "Message",
    "MessageTooLong",
    "ModelError",
    "Mood",
    "NothingToRegenerate",
    "PastSummary",
    "RecommendedItem",
    "RequestRateLimited",
    "SessionClosed",
    "SessionSummary",
    "StoreUnavailable",
    "TokenQuotaExceeded",
    "Turn",
    "TurnContext",
    "TurnInProgress",
    "TurnRateLimited",
    "TurnStream",
    "Usage",
    "Vocabulary",
    # functions
    "attempt_admit",
    "cards_decode",
    "cards_encode",
    "constraints_set",
    "conversation_get",
    "llm_check",
    "messages_list",
    "mood_set",
    "provider_health",
    "request_admit",
    "session_delete",
    "session_end",
    "session_summarize",
    "store_health",
    "tokenizer_preload",
    "turn_admit",
    "turn_answered",
    "turn_cards_withdraw",
    "turn_recording_owed",
    "turn_reply",
    "turn_reply_again",
    "turn_reply_stream",
]


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


def turn_admit(*, customer_id: int, session_id: UUID | None = None) -> Constraints:
    """Count one turn against the customer's rate limit and check the daily token quota (shared by every
    process through Redis). Raises TurnRateLimited / TokenQuotaExceeded with retry_after; StoreUnavailable if
    Redis is down (fail closed). Call it before `turn_reply`, `turn_reply_stream` or `turn_reply_again`.

    With `session_id`, the same round trip reads the session's constraints, which it returns (what the turn's
    candidates must already meet); without, NO_CONSTRAINTS."""
    client, cfg = sync_client(), get_settings()
    if session_id is None:
        quota.admit(client, cfg, customer_id=customer_id)
        return NO_CONSTRAINTS
    keys = store.session_keys(session_id)
    admitted, constraints = store.run_all(
        client, (quota.admit_call(cfg, customer_id=customer_id), store.constraints_read_call(keys))
    )
    quota.admitted(admitted)
    return store.decode_constraints(constraints)


def request_admit(*, customer_id: int, scope: str = "api") -> None:
    """Count one request that is not a turn (reads, opens, moods, ends, deletes, feedback) against the customer's
    THROTTLE_REQUESTS_PER_MINUTE in `scope` (shared by every process through Redis, one round trip; nothing when the
    setting is 0). Raises RequestRateLimited with retry_after; StoreUnavailable if Redis is down."""
    quota.request_admit(sync_client(), get_settings(), customer_id=customer_id, scope=scope)


def attempt_admit(*, scope: str, ident: str, limit: int, window_seconds: int) -> None:
    """Count one attempt of `ident` (a client address, a username) in `scope` (what is attempted: a token lookup,
    an admin login) within a sliding window shared by every process; raises RequestRateLimited with retry_after
    once `limit` are in it (0: no limit). One round trip; StoreUnavailable if Redis is down."""
    quota.attempt_admit(sync_client(), scope=scope, ident=ident, limit=limit, window_seconds=window_seconds)


def turn_answered(*, session_id: UUID, idempotency_key: str, text: str | None) -> bool:
    """Whether a turn with this Idempotency-Key and this request (`text`; None for a regenerate) was answered
    already, so that its retry is a replay (no model call, no tokens): a caller asks this when admission refused,
    and lets the replay through (one round trip, only then)."""
    idem = store.idempotency(idempotency_key, kind="send" if text is not None else "regenerate", text=text or "")
    assert idem is not None
    keys = store.session_keys(session_id)
    return store.parse_answered(store.run(sync_client(), store.answered_call(keys, idem)), idem)


def turn_cards_withdraw(
    *,
    session_id: UUID,
    turn: Turn,
    withdrawn: Collection[str],
    context: TurnContext,
    idempotency_key: str | None = None,
) -> Turn:
    """`turn` without its cards whose ids are `withdrawn` (the caller's write found them no longer admissible), its
    reply text kept from naming them (llm/grounding.py `withdraw`), and the stored reply and idempotency record
    revised to match: one round trip, only then. Raises StoreUnavailable."""
    reply = grounding.withdraw(context, turn.assistant_message, withdrawn)
    reply = replace(reply, tokens=tokens.count_message("assistant", reply.content, model=get_settings().model))
    revised = replace(turn, assistant_message=reply)
    digest = store.key_digest(idempotency_key) if idempotency_key is not None else None
    store.run(sync_client(), store.revise_call(store.session_keys(session_id), revised, digest))
    return revised


def turn_recording_owed(*, session_id: UUID, idempotency_key: str) -> None:
    """Say that the answered turn of this Idempotency-Key could not be recorded (its caller's database write failed):
    its first replay then comes back with `recording_owed`, and no other. One round trip, on that failure only.
    Raises StoreUnavailable."""
    store.run(sync_client(), store.owe_call(store.session_keys(session_id), store.key_digest(idempotency_key)))


def turn_reply(*, session_id: UUID, text: str, context: TurnContext, idempotency_key: str | None = None) -> Turn:
    """Store the user's message, answer it within the token budget, store the reply; one turn per session at
    a time (FIFO). With an idempotency key already used for the same text, the first turn is returned
    (`replayed=True`) without a model call. On a model failure the user message stays stored and the typed
    error is raised."""
    return turns.reply(session_id=session_id, text=text, context=context, idempotency_key=idempotency_key)


def turn_reply_stream(
    *,
    session_id: UUID,
    text: str,
    context: TurnContext,
    idempotency_key: str | None = None,
    idle_seconds: float | None = None,
) -> TurnStream:
    """As `turn_reply`, asynchronously: iterating it yields `Delta`s as the model produces them, then the stored
    `Turn`. The turn runs in a task of its own: if the consumer stops iterating, the reply still completes and is
    stored; `await stream.outcome()` gives the Turn, or raises the LLMError the turn failed with, whoever iterates
    (a caller that acts on the outcome, e.g. records it, awaits it in a task of its own).
    With `idle_seconds`, a None comes whenever that long passes without a delta (for heartbeats). Deltas are
    coalesced per SSE_COALESCE_MS (llm/streams.py): the first at once, then at most one per window. MessageTooLong
    is raised by this call itself, before any iteration."""
    produce = turns.reply_streamed(session_id=session_id, text=text, context=context, idempotency_key=idempotency_key)
    return streams.TurnStream(
        produce,
        name=f"llm-turn:{session_id}",
        idle_seconds=idle_seconds,
        coalesce_seconds=get_settings().stream_coalesce_seconds,
    )


def turn_reply_again(
    *, session_id: UUID, context: TurnContext, idempotency_key: str | None = None, expected_seq: int | None = None
) -> Turn:
    """Answer the last user message again, replacing the reply after it if there is one (seq stays
    contiguous). Raises NothingToRegenerate when the session has no user message; with `expected_seq`,
    ConversationMovedOn (nothing written, no model call) unless that is the seq of the session's last message."""
    return turns.reply_again(
        session_id=session_id, context=context, idempotency_key=idempotency_key, expected_seq=expected_seq
    )


def cards_encode(cards: Sequence[Card]) -> tuple[dict[str, Any], ...]:
    """Cards as JSON objects, as they are stored with their message (for another store to keep as they are)."""
    return tuple(store.card_fields(card) for card in cards)


def cards_decode(fields: Sequence[dict[str, Any]]) -> tuple[Card, ...]:
    """The cards `cards_encode` gave."""
    return tuple(store.card_of(card) for card in fields)


def messages_list(*, session_id: UUID) -> tuple[Message, ...]:
    """The session's stored messages, oldest first."""
    keys = store.session_keys(session_id)
    return store.parse_messages(store.run(sync_client(), store.range_call(keys, 0, -1)))


def conversation_get(*, session_id: UUID) -> Conversation:
    """Messages, mood and rolling summary of the session."""
    conversation, _ = store.parse_conversation(
        store.run(sync_client(), store.conversation_call(store.session_keys(session_id)))
    )
    return conversation


def constraints_set(*, session_id: UUID, constraints: Constraints) -> Constraints:
    """Replace the session's constraints (the customer's own act, the one way a rule is loosened); they live as long
    as the conversation state. Validating the codes is the caller's (its vocabulary). Raises SessionClosed (nothing
    written) once the session was ended or erased."""
    keys = store.session_keys(session_id)
    return store.parse_constraints(store.run(sync_client(), store.constraints_call(keys, get_settings(), constraints)))


def mood_set(*, session_id: UUID, mood: str) -> Mood:
    """Set the mood explicitly (`source: user`), MOOD_TTL_SECONDS. Raises InvalidMood for a mood outside MOODS,
    SessionClosed (nothing written) once the session was ended or erased."""
    if mood not in MOODS:
        raise InvalidMood(f"unknown mood {mood!r}; expected one of {', '.join(MOODS)}")
    value = Mood(mood=mood, source="user", set_at=datetime.now(UTC))
    store.parse_mood(store.run(sync_client(), store.mood_call(store.session_keys(session_id), get_settings(), value)))
    return value


def session_summarize(*, session_id: UUID, context: TurnContext) -> SessionSummary:
    """A concise summary of the whole session for the caller to persist (model or offline provider): the rolling
    summary and the stored messages, as many of the newest as fit the budget. An empty session gets an empty text
    and no model call. The model call is admitted first like a turn (`turn_admit`: the turn rate and the daily token
    quota; TurnRateLimited / TokenQuotaExceeded, StoreUnavailable if Redis is down), so that ends cannot make
    uncounted calls; a refusal inside the `with session_end(...)` block leaves the session as it was."""
    cfg = get_settings()
    conversation = conversation_get(session_id=session_id)
    final_mood = conversation.mood.mood if conversation.mood else ""
    provider = get_provider()
    if not conversation.messages and not conversation.rolling_summary:
        return SessionSummary(text="", final_mood=final_mood, provider=provider.name)
    # What the customer stated in the session goes into its summary, so later sessions know it.
    context = replace(context, constraints=conversation.constraints)
    request = window.summary_request(
        context, cfg, rolling_summary=conversation.rolling_summary, messages=conversation.messages
    )
    quota.admit(sync_client(), cfg, customer_id=context.customer_id)
    completion = provider.complete(request)
    # Counted against the customer's daily token quota like a turn's calls (one round trip, on the end path only).
    spent = completion.usage.prompt_tokens + completion.usage.completion_tokens
    calls = quota.usage_calls(customer_id=context.customer_id, tokens=spent, usage_id=uuid4().hex)
    if calls:
        store.run_all(sync_client(), calls)
    return SessionSummary(text=completion.text.strip(), final_mood=final_mood, provider=provider.name)


def session_end(*, session_id: UUID) -> AbstractContextManager[None]:
    """End the session in its turn lock's line, as a `with` block: once the turns queued before it are done, the
    block runs holding the lock (the caller summarizes with `session_summarize` and stores the summary), then the
    session is erased as `session_delete` does; turns queued after it are refused with SessionClosed. TurnInProgress
    if the line did not move within TURN_LOCK_WAIT_SECONDS, SessionClosed if another end or delete came first; if the
    block raises, nothing is erased."""
    return closing.ending(session_id)


def session_delete(*, session_id: UUID) -> None:
    """Delete every Redis key of the session (messages, mood, summary, idempotency records, turn lock), after the
    turns queued before it (waiting at most TURN_LOCK_WAIT_SECONDS), and refuse the turns queued after it
    (SessionClosed): a closed marker without content lives TURN_LOCK_WAIT_SECONDS + 2 s."""
    closing.erase(session_id)


def tokenizer_preload() -> None:
    """Build the configured model's tokenizer (about 80 MB) now: a server's master calls it before its workers fork,
    so that they share its pages instead of building one each (config/gunicorn.py)."""
    tokens.preload(get_settings().model)


def llm_check() -> CheckResult:
    """Verify the tokenizer loads offline and the configured endpoint completes a turn's requests, in one piece and
    streamed (or the offline provider); each step with its verdict (llm/check.py)."""
    from llm import check  # the check loads the openai SDK; the rest of llm must not need it to start

    return check.run()
