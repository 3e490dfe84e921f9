"""One chat turn, start to finish, for every interface that has one (the JSON and SSE API, the `chat` command):

    llm admits the turn (rate and token quota) -> the session is the caller's (else 404) and open (else 409)
    -> the customer's context and past summaries (cached) -> the turn's catalog side (live, two SQL statements)
    -> llm answers and stores both messages
    -> customers records the activity (message count, tokens, mood, last activity) and the recommendations
    -> the caller answers

Nothing of a turn reaches Redis or the model while the database is down: the catalog read, never cached, comes
before both, so it is the turn's database check even when the cache answered every other read. Should the database
fail between that read and the recording, the turn is stored in Redis all the same; the caller is told with a
service_unavailable that says so.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from uuid import UUID

from asgiref.sync import sync_to_async

from chat import recommendations
from chat.context import constraint_fields, turn_catalog_read, turn_context_read, turn_proposed
from chat.errors import ChatError
from customers import services as customers
from customers.services import DatabaseUnavailable, SessionNotFound
from llm import services as llm
from llm.services import (
    Constraints,
    Delta,
    LLMError,
    StoreUnavailable,
    Turn,
    TurnContext,
    TurnRateLimited,
    TurnStream,
)

logger = logging.getLogger(__name__)

NOT_RECORDED = (
    "The reply was saved and appears in the session's messages, but the session's activity could not be "
    "recorded: the database is unavailable."
)


def turn_prepare(
    *, customer_id: int, session_id: UUID, idempotency_key: str | None = None, text: str | None = None
) -> TurnContext:
    """Everything before the model call: admission first (429, unless the request is the retry of a turn answered
    already: its replay costs nothing), so that every attempt counts against the turn rate, one that fails next
    too, and one refused costs no SQL; it reads the session's constraints in its round trip (used only once the
    session is found to be the caller's). Then ownership and status (404, then 409), the customer's profile and past
    summaries (one cache read when warm); then the turn's catalog side for `text` (the message of a send; None for
    a regenerate, whose candidates come from the session's last user message), read live from the database and
    bound by the session's constraints and by what the message states.
    DatabaseUnavailable from any of them means nothing of the turn was stored or sent."""
    stored: Constraints | None = None
    try:
        stored = llm.turn_admit(customer_id=customer_id, session_id=session_id)
    except TurnRateLimited:
        answered = idempotency_key is not None and llm.turn_answered(
            session_id=session_id, idempotency_key=idempotency_key, text=text
        )
        if not answered:
            raise
    context = turn_context_read(customer_id=customer_id, session_id=session_id)
    request = text
    if request is None:
        request = next((m.content for m in reversed(llm.messages_list(session_id=session_id)) if m.role == "user"), "")
    # The reads above may have come from the cache alone, and the activity recorded after the reply needs the
    # database: this read, never cached, comes before anything of the turn is written to Redis or sent to the
    # model, so that a turn the database could not record is refused first.
    return turn_catalog_read(context, text=request, constraints=stored, session_id=session_id)


def turn_attempt_count(*, customer_id: int) -> None:
    """Count a turn request refused before its turn began (its body or headers are bad) against the turn rate, as
    every turn is counted at its admission: raises TurnRateLimited or TokenQuotaExceeded once they are spent (the
    caller answers 429 then). With Redis down it goes uncounted: the request's own error is what the caller needs."""
    try:
        llm.turn_admit(customer_id=customer_id)
    except StoreUnavailable:
        logger.warning("turn_attempt_not_counted", extra={"reason": "store_unavailable"})


def turn_send(*, customer_id: int, session_id: UUID, text: str, idempotency_key: str | None = None) -> Turn:
    """Send the customer's message and get the reply. A model failure leaves the message stored (and counted);
    the typed llm error is raised so that the caller can point at regenerate."""
    context = turn_prepare(customer_id=customer_id, session_id=session_id, idempotency_key=idempotency_key, text=text)
    started = time.monotonic()
    try:
        turn = llm.turn_reply(session_id=session_id, text=text, context=context, idempotency_key=idempotency_key)
    except LLMError as exc:
        _record_unanswered_message(session_id, exc.messages_added)
        raise
    return _finish(session_id, turn, context, idempotency_key, started=started, stream=False)


def turn_regenerate(
    *, customer_id: int, session_id: UUID, idempotency_key: str | None = None, expected_seq: int | None = None
) -> Turn:
    """Answer the last user message again: after a failed reply (one message more) or instead of an unwanted
    one (the reply is replaced, the count stays)."""
    context = turn_prepare(customer_id=customer_id, session_id=session_id, idempotency_key=idempotency_key)
    started = time.monotonic()
    turn = llm.turn_reply_again(
        session_id=session_id, context=context, idempotency_key=idempotency_key, expected_seq=expected_seq
    )
    return _finish(session_id, turn, context, idempotency_key, started=started, stream=False)


def turn_send_stream(
    *,
    session_id: UUID,
    text: str,
    context: TurnContext,
    idempotency_key: str | None = None,
    idle_seconds: float | None = None,
) -> AsyncIterator[Delta | Turn | None]:
    """As `turn_send` after `turn_prepare`: an async iterator of the reply's Deltas as produced, then the recorded
    Turn (with `idle_seconds`, a None whenever that long passes without a delta). A message that can never fit the
    model's budget raises MessageTooLong here, before any iteration.

    The turn runs detached (llm.services.turn_reply_stream), and so does its recording, in a task of its own that
    awaits the turn's outcome: if the consumer stops (a client disconnects), the reply is still completed, stored
    and recorded. The consumer gets the outcome once it is recorded; errors are raised to it as `turn_send` raises
    them."""
    stream = llm.turn_reply_stream(
        session_id=session_id, text=text, context=context, idempotency_key=idempotency_key, idle_seconds=idle_seconds
    )
    return _recorded_stream(stream, session_id, context, idempotency_key, started=time.monotonic())


# Recordings of streamed turns in flight, referenced here so that one whose consumer left is not garbage-collected.
_recordings: set[asyncio.Task] = set()


async def _recorded_stream(
    stream: TurnStream, session_id: UUID, context: TurnContext, idempotency_key: str | None, *, started: float
) -> AsyncIterator[Delta | Turn | None]:
    recording = asyncio.create_task(
        _record_streamed(stream, session_id, context, idempotency_key, started), name=f"chat-record:{session_id}"
    )
    _recordings.add(recording)
    recording.add_done_callback(_recording_done)
    try:
        async for item in stream:
            if not isinstance(item, Turn):
                yield item
    except LLMError:
        with contextlib.suppress(Exception):
            await asyncio.shield(recording)  # what the failed turn left stored is counted first
        raise
    turn = await asyncio.shield(recording)
    assert turn is not None  # the turn succeeded: its recording returns it or raises
    yield turn


def _recording_done(recording: asyncio.Task) -> None:
    _recordings.discard(recording)
    if not recording.cancelled():
        recording.exception()  # retrieved here, for a consumer that left: `_finish` logged the failure already


async def _record_streamed(
    stream: TurnStream, session_id: UUID, context: TurnContext, idempotency_key: str | None, started: float
) -> Turn | None:
    """The streamed turn's outcome recorded, from a worker thread (the turn as answered); None after a failed
    turn, whose error the consumer gets from the stream."""
    try:
        turn = await stream.outcome()
    except LLMError as exc:
        if exc.messages_added:
            await sync_to_async(_record_unanswered_message, thread_sensitive=False)(session_id, exc.messages_added)
        return None
    return await sync_to_async(_finish, thread_sensitive=False)(
        session_id, turn, context, idempotency_key, started=started, stream=True
    )


def _finish(
    session_id: UUID,
    turn: Turn,
    context: TurnContext,
    idempotency_key: str | None,
    *,
    started: float,
    stream: bool,
) -> Turn:
    """Record the turn and log it; the turn as answered: without the cards its recording found inadmissible."""
    # A replay answers an earlier turn, which was recorded then, unless that recording failed: then the first replay
    # records it (llm hands the debt to exactly one).
    if not turn.replayed or turn.recording_owed:
        try:
            recorded = customers.session_record_activity(
                session_id=session_id,
                messages_added=turn.messages_added,
                prompt_tokens=turn.usage.prompt_tokens,
                completion_tokens=turn.usage.completion_tokens,
                mood=turn.mood.mood if turn.mood else "",
                recommendations=recommendations.rows_of(turn),
                customer_id=context.customer_id,
                constraints=customers.Constraints(**constraint_fields(turn.constraints)),
                maybe_recorded=turn.recording_owed,
                proposed=turn_proposed(context, turn.constraints),
            )
        except DatabaseUnavailable as exc:
            logger.warning("turn_activity_not_recorded", extra={"session_id": str(session_id)})
            if idempotency_key is not None:
                _recording_owed(session_id, idempotency_key)
            raise ChatError("service_unavailable", NOT_RECORDED) from exc
        except SessionNotFound:
            # Erased right after this turn, which it waited for: the reply was given, there is nothing to count.
            logger.info("turn_activity_not_recorded", extra={"session_id": str(session_id), "reason": "erased"})
        else:
            turn = recommendations.withdraw_unrecorded(session_id, turn, recorded, context, idempotency_key)
    logger.info(
        "turn_completed",
        extra={
            "session_id": str(session_id),
            "provider": turn.provider,
            "prompt_tokens": turn.usage.prompt_tokens,
            "completion_tokens": turn.usage.completion_tokens,
            "replayed": turn.replayed,
            "recommendations": len(turn.recommendations),
            "stream": stream,
            "duration_ms": round((time.monotonic() - started) * 1000),
        },
    )
    return turn


def _recording_owed(session_id: UUID, idempotency_key: str) -> None:
    """Leave the recording to the turn's replay (a retry with its Idempotency-Key), which will find it owed."""
    try:
        llm.turn_recording_owed(session_id=session_id, idempotency_key=idempotency_key)
    except LLMError:
        logger.warning("turn_recording_not_owed", extra={"session_id": str(session_id)})


def _record_unanswered_message(session_id: UUID, messages: int) -> None:
    """Count what a failed turn left stored: its user message, unless it answered one stored (and counted) before."""
    if not messages:
        return
    try:
        customers.session_record_activity(
            session_id=session_id, messages_added=messages, prompt_tokens=0, completion_tokens=0
        )
    except (DatabaseUnavailable, SessionNotFound):
        # The turn's failure is what the caller must hear about; the stored count stays one message short.
        logger.warning("turn_activity_not_recorded", extra={"session_id": str(session_id)})
