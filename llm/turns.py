"""Turns: store the user's message, answer it within the token budget, store the reply, one turn per session at a
time. `reply` and `regenerate` run on redis-py's sync client and `Provider.complete`; `reply_stream` on the asyncio
client and `Provider.astream`. Both follow the same steps, built from the same pure helpers below:

1. lock      take the session's turn lock (llm/lock.py)                                     1 round trip
2. begin     append the user message; read mood, summary, the tail within the budget        1 round trip
             and any idempotency record (replayed or refused here, with no model call; a
             pending one makes the turn answer its stored message instead of appending)
3. fold      only when due: fold old messages into the rolling summary (llm/window.py)      2 round trips
4. model     one call
5. finish    append the reply, mood, idempotency record, usage, TTLs; release the lock     1 round trip

The user's message is stored before the model is called: if the call fails, it stays, the typed error propagates,
and `regenerate`, or a retry with the same idempotency key, answers it later. Should the lock be lost meanwhile (a
turn outliving TURN_LOCK_TTL_SECONDS), the write scripts refuse and nothing more is written (TurnInProgress).
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID, uuid4

import redis
import redis.asyncio

from llm import lock, quota, store, tokens, window
from llm.conf import LLMSettings, get_settings
from llm.data import MOODS, Delta, Message, Mood, Turn, TurnContext, Usage
from llm.errors import (
    LLMBadResponse,
    LLMError,
    LLMUnavailable,
    ModelError,
    StoreUnavailable,
)
from llm.providers import Completion, get_provider
from llm.redis import async_client, sync_client
from llm.store import Begun, Idempotency, RollingSummary, SessionKeys

log = logging.getLogger(__name__)

T = TypeVar("T")

# Streamed turns in flight, referenced here so that one whose consumer left is not garbage-collected.
_detached: set[asyncio.Task] = set()


# --- pure steps --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Ask:
    """A turn as decided before any I/O."""

    session_id: UUID
    keys: SessionKeys
    cfg: LLMSettings
    context: TurnContext
    user: Message | None  # the message to store and answer; None to answer the last one again
    idem: Idempotency | None
    tail_budget: int


def _now() -> datetime:
    return datetime.now(UTC)


def _ask_reply(session_id: UUID, text: str, context: TurnContext, idempotency_key: str | None) -> _Ask:
    cfg = get_settings()
    user = Message(
        id=uuid4().hex,
        seq=0,  # assigned by the BEGIN script
        role="user",
        content=text,
        tokens=tokens.count_message("user", text, model=cfg.model),
        created_at=_now(),
    )
    return _Ask(
        session_id=session_id,
        keys=store.session_keys(session_id),
        cfg=cfg,
        context=context,
        user=user,
        idem=store.idempotency(idempotency_key, kind="send", text=text),
        tail_budget=window.tail_budget(context, cfg, newest_tokens=user.tokens),
    )


def _ask_regenerate(session_id: UUID, context: TurnContext, idempotency_key: str | None) -> _Ask:
    cfg = get_settings()
    return _Ask(
        session_id=session_id,
        keys=store.session_keys(session_id),
        cfg=cfg,
        context=context,
        user=None,
        idem=store.idempotency(idempotency_key, kind="regenerate", text=""),
        tail_budget=window.tail_budget(context, cfg),
    )


def _begin_call(ask: _Ask, lease: lock.Lease) -> store.Call:
    return store.begin_call(
        ask.keys,
        ask.cfg,
        token=lease.token,
        user=ask.user,
        tail_budget=ask.tail_budget,
        tail_limit=window.tail_limit(ask.tail_budget),
        idem=ask.idem,
    )


def _window(ask: _Ask, begun: Begun) -> window.Window:
    return window.assemble(ask.context, ask.cfg, mood=begun.mood, summary=begun.summary.text, tail=begun.tail)


def _fold_due(ask: _Ask, begun: Begun) -> tuple[window.Window, tuple[int, int] | None]:
    """The window, and the seqs to fold into the rolling summary first if a fold is due."""
    win = _window(ask, begun)
    seqs = window.fold_range(
        window=win,
        summary=begun.summary,
        answering=begun.user_seq,
        stored=begun.stored,
        last_seq=begun.last_seq,
        stored_after=begun.stored + (0 if begun.replaced_seq else 1),
        cap=ask.cfg.max_stored_messages,
    )
    return win, seqs


def _fold_read_call(ask: _Ask, begun: Begun, seqs: tuple[int, int]) -> store.Call:
    first_stored = begun.last_seq - begun.stored + 1
    # No more than one fold request could hold: the rest waits for the next fold.
    last = min(seqs[1], seqs[0] + window.tail_limit(ask.cfg.context_budget) - 1)
    return store.range_call(ask.keys, seqs[0] - first_stored, last - first_stored)


def _folded(
    ask: _Ask, lease: lock.Lease, begun: Begun, through: int, completion: Completion
) -> tuple[Begun, store.Call, int]:
    """The session with its new rolling summary, the call storing it, and the tokens the fold spent."""
    begun = replace(begun, summary=RollingSummary(completion.text.strip(), through))
    call = store.summary_call(ask.keys, ask.cfg, token=lease.token, summary=begun.summary)
    return begun, call, completion.usage.prompt_tokens + completion.usage.completion_tokens


def _fold_failed(ask: _Ask, exc: Exception) -> None:
    log.warning("rolling summary fold failed", extra={"session_id": str(ask.session_id), "error": exc.code})


def _inferred_mood(completion: Completion) -> Mood | None:
    if completion.mood not in MOODS:
        return None
    return Mood(mood=completion.mood, source="inferred", set_at=_now())


def _finish_calls(
    ask: _Ask,
    lease: lock.Lease,
    begun: Begun,
    *,
    text: str,
    usage: Usage,
    spent: int,
    provider: str,
    mood: Mood | None,
    interrupted: bool = False,
) -> tuple[Turn, list[store.Call]]:
    """The turn (its mood still to come from the store) and the calls of its last round trip: the FINISH script and
    the customer's token usage (`spent` tokens of earlier calls of the turn, plus this one)."""
    reply = Message(
        id=uuid4().hex,
        seq=begun.replaced_seq or begun.user_seq + 1,
        role="assistant",
        content=text,
        tokens=tokens.count_message("assistant", text, model=ask.cfg.model),
        created_at=_now(),
        interrupted=interrupted,
    )
    turn = Turn(
        user_message=begun.tail[-1],
        assistant_message=reply,
        mood=None,
        usage=usage,
        provider=provider,
        messages_added=int(_user_stored(ask, begun)) + (0 if begun.replaced_seq else 1),
    )
    finish = store.finish_call(
        ask.keys,
        ask.cfg,
        token=lease.token,
        turn=turn,
        replace=bool(begun.replaced_seq),
        inferred_mood=mood,
        idem=None if interrupted else ask.idem,
    )
    used = spent + usage.prompt_tokens + usage.completion_tokens
    return turn, [finish, *quota.usage_calls(customer_id=ask.context.customer_id, tokens=used)]


def _user_stored(ask: _Ask, begun: Begun) -> bool:
    """Whether BEGIN stored the turn's own message, rather than leaving it out to answer one stored earlier
    (regenerate, or the retry of a failed turn with its idempotency key)."""
    return ask.user is not None and begun.tail[-1].id == ask.user.id


@contextlib.contextmanager
def _left_stored(ask: _Ask, begun: Begun) -> Iterator[None]:
    """A turn failing after BEGIN tells its caller what it left in the history, so that the caller's counters
    match it: its own message, or nothing when it answered one stored earlier."""
    try:
        yield
    except LLMError as exc:
        exc.messages_added = int(_user_stored(ask, begun))
        raise


def _completed_calls(
    ask: _Ask, lease: lock.Lease, begun: Begun, completion: Completion, *, spent: int, provider: str
) -> tuple[Turn, list[store.Call]]:
    """`_finish_calls` for a reply the model completed, with the mood it inferred."""
    return _finish_calls(
        ask,
        lease,
        begun,
        text=completion.text,
        usage=completion.usage,
        spent=spent,
        provider=provider,
        mood=_inferred_mood(completion),
    )


def _finished(turn: Turn, results: list) -> Turn:
    return replace(turn, mood=store.parse_finish(results[0]))


def _replayed(turn: Turn) -> Turn:
    return replace(turn, replayed=True)


def _hold(cfg: LLMSettings) -> dict[str, float]:
    return {"hold_seconds": cfg.turn_lock_ttl_seconds, "wait_seconds": cfg.turn_lock_wait_seconds}


# --- sync --------------------------------------------------------------------------------------------------


def reply(*, session_id: UUID, text: str, context: TurnContext, idempotency_key: str | None = None) -> Turn:
    """Store `text` and answer it (see llm.services.turn_reply)."""
    return _run(_ask_reply(session_id, text, context, idempotency_key))


def regenerate(*, session_id: UUID, context: TurnContext, idempotency_key: str | None = None) -> Turn:
    """Answer the last user message again (see llm.services.turn_regenerate)."""
    return _run(_ask_regenerate(session_id, context, idempotency_key))


def _run(ask: _Ask) -> Turn:
    client = sync_client()
    lease = lock.acquire(client, ask.keys.lock, **_hold(ask.cfg))
    try:
        begun = store.parse_begin(store.run(client, _begin_call(ask, lease)))
        if isinstance(begun, Turn):
            return _replayed(begun)
        with _left_stored(ask, begun):
            return _answer(client, ask, lease, begun)
    except BaseException:
        _release_quietly(client, lease)
        raise


def _answer(client: redis.Redis, ask: _Ask, lease: lock.Lease, begun: Begun) -> Turn:
    """After BEGIN: fold when due, ask the model, store the reply."""
    begun, win, spent = _fold(client, ask, lease, begun)
    provider = get_provider()
    completion = provider.complete(window.reply_request(ask.context, ask.cfg, win, begun.mood))
    turn, calls = _completed_calls(ask, lease, begun, completion, spent=spent, provider=provider.name)
    return _finished(turn, store.run_all(client, calls))


def _fold(client: redis.Redis, ask: _Ask, lease: lock.Lease, begun: Begun) -> tuple[Begun, window.Window, int]:
    """The window, after folding into the rolling summary when due; and the tokens the fold spent."""
    win, seqs = _fold_due(ask, begun)
    if seqs is None:
        return begun, win, 0
    older = store.parse_messages(store.run(client, _fold_read_call(ask, begun, seqs)))
    request, through = window.fold_request(ask.context, ask.cfg, previous=begun.summary.text, messages=older)
    try:
        completion = get_provider().complete(request)
    except ModelError as exc:  # retried by a later turn; this one goes on with the summary it has
        _fold_failed(ask, exc)
        return begun, win, 0
    begun, call, spent = _folded(ask, lease, begun, through, completion)
    store.parse_summary(store.run(client, call))
    return begun, _window(ask, begun), spent


def _release_quietly(client: redis.Redis, lease: lock.Lease) -> None:
    # After a failure the lock may be held still; the write scripts release it themselves otherwise.
    with contextlib.suppress(StoreUnavailable):
        lock.release(client, lease)


# --- async, streamed ---------------------------------------------------------------------------------------


def reply_stream(
    *, session_id: UUID, text: str, context: TurnContext, idempotency_key: str | None = None
) -> AsyncIterator[Delta | Turn]:
    """Deltas of the reply as the model produces them, then the stored Turn (see llm.services.turn_reply_stream).

    MessageTooLong is raised here, before iteration starts. The turn runs in a task of its own that the iterator only
    reads from: if the consumer goes away, the turn still completes and is stored.
    """
    return _stream(_ask_reply(session_id, text, context, idempotency_key))


async def _stream(ask: _Ask) -> AsyncIterator[Delta | Turn]:
    deltas: asyncio.Queue[Delta | None] = asyncio.Queue()
    task = asyncio.create_task(_produce(ask, deltas), name=f"llm-turn:{ask.session_id}")
    _detached.add(task)
    task.add_done_callback(_forget)
    while (delta := await deltas.get()) is not None:
        yield delta
    try:
        turn = await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.cancelled():
            raise  # the consumer itself is cancelled
        # The turn's task was cancelled (the server is shutting down): what was generated is stored, interrupted.
        raise LLMUnavailable("The reply was interrupted before it was finished.") from None
    yield turn


def _forget(task: asyncio.Task) -> None:
    _detached.discard(task)
    if not task.cancelled() and (exc := task.exception()) is not None:
        # Retrieved here so a turn whose consumer left does not end as "exception never retrieved".
        log.info("streamed turn failed", extra={"error": getattr(exc, "code", type(exc).__name__)})


async def _produce(ask: _Ask, deltas: asyncio.Queue[Delta | None]) -> Turn:
    try:
        client = async_client()
        lease = await lock.aacquire(client, ask.keys.lock, **_hold(ask.cfg))
        try:
            return await _produce_locked(client, ask, lease, deltas)
        except BaseException:
            await _arelease_quietly(client, lease)
            raise
    finally:
        deltas.put_nowait(None)


async def _produce_locked(
    client: redis.asyncio.Redis, ask: _Ask, lease: lock.Lease, deltas: asyncio.Queue[Delta | None]
) -> Turn:
    begun = store.parse_begin(await store.arun(client, _begin_call(ask, lease)))
    if isinstance(begun, Turn):
        return _replayed(begun)
    with _left_stored(ask, begun):
        return await _astream_answer(client, ask, lease, begun, deltas)


async def _astream_answer(
    client: redis.asyncio.Redis, ask: _Ask, lease: lock.Lease, begun: Begun, deltas: asyncio.Queue[Delta | None]
) -> Turn:
    """`_answer` with the provider's stream, each delta queued as it comes."""
    begun, win, spent = await _afold(client, ask, lease, begun)
    provider = get_provider()
    request = window.reply_request(ask.context, ask.cfg, win, begun.mood)
    pieces: list[str] = []
    completion: Completion | None = None
    try:
        async with contextlib.aclosing(provider.astream(request)) as stream:
            async for item in stream:
                if isinstance(item, Completion):
                    completion = item
                else:
                    pieces.append(item)
                    deltas.put_nowait(Delta(item))
    except asyncio.CancelledError:
        if pieces:  # keep what the customer may have seen, marked as interrupted
            text = "".join(pieces)
            usage = Usage(
                prompt_tokens=win.prompt_tokens, completion_tokens=tokens.count_text(text, model=ask.cfg.model)
            )
            _, calls = _finish_calls(
                ask,
                lease,
                begun,
                text=text,
                usage=usage,
                spent=spent,
                provider=provider.name,
                mood=None,
                interrupted=True,
            )
            await _despite_cancellation(store.arun_all(client, calls))
        raise
    if completion is None:
        raise LLMBadResponse("The model's stream ended without a completion.")
    turn, calls = _completed_calls(ask, lease, begun, completion, spent=spent, provider=provider.name)
    return _finished(turn, await _despite_cancellation(store.arun_all(client, calls)))


async def _afold(
    client: redis.asyncio.Redis, ask: _Ask, lease: lock.Lease, begun: Begun
) -> tuple[Begun, window.Window, int]:
    """`_fold` for the asyncio client, with the provider's stream."""
    win, seqs = _fold_due(ask, begun)
    if seqs is None:
        return begun, win, 0
    older = store.parse_messages(await store.arun(client, _fold_read_call(ask, begun, seqs)))
    request, through = window.fold_request(ask.context, ask.cfg, previous=begun.summary.text, messages=older)
    try:
        completion = await _collect(get_provider().astream(request))
    except ModelError as exc:
        _fold_failed(ask, exc)
        return begun, win, 0
    begun, call, spent = _folded(ask, lease, begun, through, completion)
    store.parse_summary(await store.arun(client, call))
    return begun, _window(ask, begun), spent


async def _collect(stream: AsyncIterator[str | Completion]) -> Completion:
    async with contextlib.aclosing(stream):
        async for item in stream:
            if isinstance(item, Completion):
                return item
    raise LLMBadResponse("The model's stream ended without a completion.")


async def _despite_cancellation(write: Awaitable[T]) -> T:
    """Await a write to its end even if the awaiting task is cancelled meanwhile (then re-raise the cancellation):
    a reply is stored whole or not at all, and the lock is never released under a write in flight."""
    inner = asyncio.ensure_future(write)
    try:
        return await asyncio.shield(inner)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await inner
        raise


async def _arelease_quietly(client: redis.asyncio.Redis, lease: lock.Lease) -> None:
    with contextlib.suppress(StoreUnavailable):
        await lock.arelease(client, lease)
