"""Turns: store the user's message, answer it within the token budget, store the reply, one turn per session at a
time. The steps are written once, as a flow (`_turn`, see llm/flow.py): `reply` and `reply_again` run it with
redis-py's sync client and `Provider.complete`, `reply_streamed` with the asyncio client and `Provider.astream`,
forwarding the reply's deltas as they come. A turn's Redis writes are the scripts its flow yields:

1. lock      take the session's turn lock (llm/lock.py)                                     1 round trip
2. begin     append the user message and add what it stated to the session's constraints;  in the lock's
             read mood, summary, constraints, the tail within the budget and any
             idempotency record (replayed or refused here, with no model call; a pending
             one makes the turn answer its stored message instead of appending)
3. fold      only when due: fold old messages into the rolling summary (llm/window.py)      2 round trips
4. model     one call
5. finish    append the reply, mood, the constraints the model noted, idempotency record,   1 round trip
             usage, TTLs; release the lock

BEGIN goes with the lock's first try, atomically after it (`lock.acquire_along`): a turn that finds the lock free
takes it and begins in one round trip. One that waits in line finds BEGIN refused by its fencing check (nothing
written: no message, TTL, idempotency record or seq) and sends it again once it holds the lock: one round trip more.

The user's message is stored before the model is called: if the call fails, it stays, the typed error propagates
(built with what the turn left stored: `messages_added`), and `regenerate`, or a retry with the same idempotency key,
answers it later. Should the lock be lost meanwhile (a turn outliving TURN_LOCK_TTL_SECONDS), the write scripts
refuse and nothing more is written (TurnInProgress).
"""

import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from uuid import UUID, uuid4

from llm import flow, lock, quota, store, tokens, window
from llm.answers import Answer
from llm.conf import LLMSettings, get_settings
from llm.data import MOODS, NO_CONSTRAINTS, Card, Constraints, Delta, Message, Mood, Turn, TurnContext, Usage
from llm.errors import LLMError, ModelError
from llm.flow import Ask, Flow, Interrupted
from llm.providers import Provider, get_provider
from llm.redis import async_client, sync_client
from llm.store import BeginResult, Idempotency, RollingSummary, SessionKeys

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Ask:
    """A turn as decided before any I/O."""

    session_id: UUID
    keys: SessionKeys
    user: Message | None  # the message to store and answer; None to answer the last one again
    idem: Idempotency | None
    prompt: window.Prompt  # the reply prompt's sections, built once, with the context and settings they came from
    tail_budget: int
    expected_seq: int = 0  # regenerate: the seq the caller expects last (0: whatever is last)

    @property
    def context(self) -> TurnContext:
        return self.prompt.context

    @property
    def cfg(self) -> LLMSettings:
        return self.prompt.cfg


def _now() -> datetime:
    return datetime.now(UTC)


def _ask(session_id: UUID, context: TurnContext, idempotency_key: str | None, text: str | None) -> _Ask:
    """The turn answering `text` (stored first), or with None the last user message again (regenerate)."""
    cfg = get_settings()
    user = None
    if text is not None:
        user = Message(
            id=uuid4().hex,
            seq=0,  # assigned by the BEGIN script
            role="user",
            content=text,
            tokens=tokens.count_message("user", text, model=cfg.model),
            created_at=_now(),
        )
    prompt = window.prompt(context, cfg)
    return _Ask(
        session_id=session_id,
        keys=store.session_keys(session_id),
        user=user,
        idem=store.idempotency(idempotency_key, kind="regenerate" if user is None else "send", text=text or ""),
        prompt=prompt,
        tail_budget=prompt.tail_budget(newest_tokens=user.tokens if user else 0),
    )


# --- the flow of a turn ------------------------------------------------------------------------------------


def _turn(ask: _Ask, *, stream: bool) -> Flow[Turn]:
    """A whole turn. `stream`: the reply's deltas are forwarded as produced (by the async runner)."""
    lease, raw = yield from lock.acquire_along(
        ask.keys.lock,
        functools.partial(_begin_call, ask),
        hold_seconds=ask.cfg.turn_lock_ttl_seconds,
        wait_seconds=ask.cfg.turn_lock_wait_seconds,
    )
    try:
        yield lock.hold(
            lease, hold_seconds=ask.cfg.turn_lock_ttl_seconds, deadline_seconds=ask.cfg.turn_deadline_seconds
        )
        if raw is None:  # the turn waited in line: BEGIN, refused with the first try, wrote nothing
            [raw] = yield from store.round_trip((_begin_call(ask, lease),))
        begun = store.parse_begin(raw)
        if isinstance(begun, Turn):  # a replay
            return begun
        # Bound by what the caller read and by the session's constraints as BEGIN left them (a turn of the same
        # session that stated one meanwhile binds this one too).
        constraints = ask.context.constraints.tightened(begun.constraints)
        if constraints != ask.context.constraints:  # the prompt lists them: built again, only then
            ask = replace(ask, prompt=window.prompt(replace(ask.context, constraints=constraints), ask.cfg))
        try:
            return (yield from _answer(ask, lease, begun, stream=stream))
        except LLMError as exc:
            # Told what the turn left in the history, so that the caller's counters match it.
            raise exc.left_stored(_left_stored(ask, begun)) from exc
    except GeneratorExit:
        raise
    except BaseException:
        # After a failure the lock may be held still; the write scripts release it themselves otherwise.
        yield from lock.release_quietly(lease)
        raise


def _answer(ask: _Ask, lease: lock.Lease, begun: BeginResult, *, stream: bool) -> Flow[Turn]:
    """After BEGIN: fold when due, ask the model, store the reply (what it produced, if interrupted)."""
    begun, win, spent = yield from _fold(ask, lease, begun)
    provider = get_provider()
    try:
        request, grounds = window.reply_request(ask.context, ask.cfg, win, begun.mood)
        completion = yield Ask(provider, request, grounds, deltas=stream)
    except Interrupted as stop:
        if stop.text:  # keep what the customer may have seen, marked as interrupted
            usage = Usage(win.prompt_tokens, tokens.count_text(stop.text, model=ask.cfg.model), "counted")
            _, calls = _finish_calls(ask, lease, begun, stop.text, usage, spent, provider, None, interrupted=True)
            yield from store.round_trip(calls, durable=True)
        raise
    except LLMError:
        # The fold's tokens were spent all the same: counted against the quota (one round trip, only then).
        calls = quota.usage_calls(customer_id=ask.context.customer_id, tokens=spent, usage_id=uuid4().hex)
        if calls:
            with contextlib.suppress(LLMError):
                yield from store.round_trip(calls)
        raise
    mood = _inferred_mood(completion)
    turn, calls = _finish_calls(
        ask,
        lease,
        begun,
        completion.text,
        completion.usage,
        spent,
        provider,
        mood,
        cards=completion.cards,
        noted=completion.noted,
    )
    results = yield from store.round_trip(calls, durable=True)
    mood_after, constraints = store.parse_finish(results[0])
    return replace(turn, mood=mood_after, constraints=constraints)


def _fold(ask: _Ask, lease: lock.Lease, begun: BeginResult) -> Flow[tuple[BeginResult, window.Window, int]]:
    """The window, after folding into the rolling summary when due; and the tokens the fold spent."""
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
    if seqs is None:
        return begun, win, 0
    first_stored = begun.last_seq - begun.stored + 1
    # No more than one fold request could hold: the rest waits for the next fold.
    last = min(seqs[1], seqs[0] + window.tail_limit(ask.cfg.context_budget) - 1)
    [raw] = yield from store.round_trip((store.range_call(ask.keys, seqs[0] - first_stored, last - first_stored),))
    request, through = window.fold_request(
        ask.context, ask.cfg, previous=begun.summary.text, messages=store.parse_messages(raw)
    )
    try:
        completion = yield Ask(get_provider(), request)
    except ModelError as exc:  # retried by a later turn; this one goes on with the summary it has
        log.warning("rolling summary fold failed", extra={"session_id": str(ask.session_id), "error": exc.code})
        return begun, win, 0
    begun = replace(begun, summary=RollingSummary(completion.text.strip(), through))
    [raw] = yield from store.round_trip(
        (store.summary_call(ask.keys, ask.cfg, token=lease.token, summary=begun.summary),)
    )
    store.parse_summary(raw)
    return begun, _window(ask, begun), completion.usage.prompt_tokens + completion.usage.completion_tokens


# --- pure steps --------------------------------------------------------------------------------------------


def _begin_call(ask: _Ask, lease: lock.Lease) -> store.Call:
    return store.begin_call(
        ask.keys,
        ask.cfg,
        token=lease.token,
        user=ask.user,
        tail_budget=ask.tail_budget,
        tail_limit=window.tail_limit(ask.tail_budget),
        idem=ask.idem,
        expected_seq=ask.expected_seq,
        stated=ask.context.stated,
    )


def _window(ask: _Ask, begun: BeginResult) -> window.Window:
    return ask.prompt.assemble(mood=begun.mood, summary=begun.summary.text, tail=begun.tail)


def _inferred_mood(completion: Answer) -> Mood | None:
    if completion.mood not in MOODS:
        return None
    return Mood(mood=completion.mood, source="inferred", set_at=_now())


def _finish_calls(
    ask: _Ask,
    lease: lock.Lease,
    begun: BeginResult,
    text: str,
    usage: Usage,
    spent: int,
    provider: Provider,
    mood: Mood | None,
    *,
    interrupted: bool = False,
    cards: tuple[Card, ...] = (),
    noted: Constraints = NO_CONSTRAINTS,
) -> tuple[Turn, list[store.Call]]:
    """The turn (its mood and constraints still to come from the store) and the calls of its last round trip: the
    FINISH script (with the constraints the model `noted`) and the customer's token usage (`spent` tokens of
    earlier calls of the turn, plus this one)."""
    reply = Message(
        id=uuid4().hex,
        seq=begun.replaced_seq or begun.user_seq + 1,
        role="assistant",
        content=text,
        tokens=tokens.count_message("assistant", text, model=ask.cfg.model),
        created_at=_now(),
        interrupted=interrupted,
        recommendations=cards,
    )
    turn = Turn(
        user_message=begun.tail[-1],
        assistant_message=reply,
        mood=None,
        usage=usage,
        provider=provider.name,
        messages_added=_left_stored(ask, begun) + (0 if begun.replaced_seq else 1),
        constraints=ask.context.constraints.tightened(noted),
    )
    finish = store.finish_call(
        ask.keys,
        ask.cfg,
        token=lease.token,
        turn=turn,
        replace=bool(begun.replaced_seq),
        inferred_mood=mood,
        idem=None if interrupted else ask.idem,
        noted=noted,
    )
    used = spent + usage.prompt_tokens + usage.completion_tokens
    return turn, [finish, *quota.usage_calls(customer_id=ask.context.customer_id, tokens=used, usage_id=reply.id)]


def _left_stored(ask: _Ask, begun: BeginResult) -> int:
    """1 if BEGIN stored the turn's own message; 0 if it left it out to answer one stored earlier (regenerate, or
    the retry of a failed turn with its idempotency key)."""
    return int(ask.user is not None and begun.tail[-1].id == ask.user.id)


# --- the runners -------------------------------------------------------------------------------------------


def reply(*, session_id: UUID, text: str, context: TurnContext, idempotency_key: str | None = None) -> Turn:
    """Store `text` and answer it (see llm.services.turn_reply)."""
    return flow.run(sync_client(), _turn(_ask(session_id, context, idempotency_key, text), stream=False))


def reply_again(
    *, session_id: UUID, context: TurnContext, idempotency_key: str | None = None, expected_seq: int | None = None
) -> Turn:
    """Answer the last user message again (see llm.services.turn_reply_again)."""
    ask = replace(_ask(session_id, context, idempotency_key, None), expected_seq=expected_seq or 0)
    return flow.run(sync_client(), _turn(ask, stream=False))


def reply_streamed(
    *, session_id: UUID, text: str, context: TurnContext, idempotency_key: str | None = None
) -> Callable[[Callable[[Delta], None]], Awaitable[Turn]]:
    """The turn of `text`, to run on the asyncio client, handing each delta of the reply on as it comes (see
    llm.services.turn_reply_stream, which runs it detached). MessageTooLong is raised here, before anything runs."""
    ask = _ask(session_id, context, idempotency_key, text)

    async def produce(on_delta: Callable[[Delta], None]) -> Turn:
        return await flow.arun(async_client(), _turn(ask, stream=True), on_delta)

    return produce
