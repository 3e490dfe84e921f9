"""Session operations as a call builder and a parser each: the builder names a script's keys and arguments in the
order its locals take them, the parser turns its answer into llm.data types or a typed error."""

from dataclasses import dataclass, replace
from typing import Any

from llm.conf import LLMSettings
from llm.data import NO_CONSTRAINTS, Constraints, Conversation, Message, Mood, Turn
from llm.errors import ConversationMovedOn, IdempotencyConflict, NothingToRegenerate, SessionClosed, TurnInProgress
from llm.store import codec
from llm.store.keys import LockKeys, SessionKeys
from llm.store.scripts import (
    BEGIN,
    CONSTRAINTS,
    CONVERSATION,
    ERASE,
    FINISH,
    LOCK_RELEASE,
    LOCK_RENEW,
    LOCK_TRY,
    MOOD,
    OWE,
    REVISE,
    SUMMARY,
    Call,
)


@dataclass(frozen=True, slots=True)
class RollingSummary:
    text: str
    through: int  # the seq of the last message folded into `text` (0: none)


@dataclass(frozen=True, slots=True)
class BeginResult:
    """A turn's view of the session after BEGIN."""

    user_seq: int  # the message being answered
    replaced_seq: int  # regenerate: the seq of the reply being replaced, else 0
    stored: int  # messages in the list
    last_seq: int
    mood: Mood | None
    summary: RollingSummary
    tail: tuple[Message, ...]  # the newest messages within the budget, oldest first (without a replaced reply)
    constraints: Constraints = NO_CONSTRAINTS  # the session's, with what the message stated


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _turn_keys(keys: SessionKeys, idem: codec.Idempotency | None) -> tuple[str, ...]:
    return keys.turn + ((keys.record(idem.digest),) if idem else ())


def begin_call(
    keys: SessionKeys,
    cfg: LLMSettings,
    *,
    token: str,
    user: Message | None,
    tail_budget: int,
    tail_limit: int,
    idem: codec.Idempotency | None,
    expected_seq: int = 0,
    stated: Constraints = NO_CONSTRAINTS,
) -> Call:
    """Append `user` (None: regenerate the last reply; with `expected_seq`, only if that is the last message's seq),
    add the constraints it `stated` to the session's, and read what the window needs; with `idem`, replay its
    complete record, or answer again the message of its pending one (without appending `user`)."""
    return BEGIN.call(
        _turn_keys(keys, idem),
        (
            token,
            "send" if user else "regenerate",
            user.id if user else "",
            codec.message_body(user) if user else "",
            tail_budget,
            tail_limit,
            _ms(cfg.chat_ttl_seconds),
            _ms(cfg.mood_ttl_seconds),
            idem.fingerprint if idem else "",
            idem.digest if idem else "",
            expected_seq,
            codec.encode_constraints(stated),
        ),
    )


def parse_begin(raw: list[Any]) -> BeginResult | Turn:
    """The session as BEGIN saw it, or the earlier Turn of a replayed idempotency key."""
    status = raw[0].decode()
    if status == "replay":
        return replace(codec.decode_turn(raw[1]), replayed=True, recording_owed=bool(raw[2]))
    if status == "conflict":
        raise IdempotencyConflict()
    if status == "retry_overtaken":
        raise IdempotencyConflict(
            "The turn of this Idempotency-Key failed and the conversation has moved on since; retry with a new key."
        )
    if status == "nothing":
        raise NothingToRegenerate()
    if status == "expected_seq_not_last":
        raise ConversationMovedOn()
    if status == "fenced":
        raise TurnInProgress("the turn lock was lost before the message was stored")
    user_seq, replaced_seq, stored, last_seq, mood, text, through, constraints, *tail = raw[1:]
    return BeginResult(
        constraints=codec.decode_constraints(constraints),
        user_seq=user_seq,
        replaced_seq=replaced_seq,
        stored=stored,
        last_seq=last_seq,
        mood=codec.decode_mood(mood),
        summary=RollingSummary(text.decode(), through),
        tail=codec.decode_messages(tail[::-1]),
    )


def finish_call(
    keys: SessionKeys,
    cfg: LLMSettings,
    *,
    token: str,
    turn: Turn,
    replace: bool,
    inferred_mood: Mood | None,
    idem: codec.Idempotency | None,
    noted: Constraints = NO_CONSTRAINTS,
) -> Call:
    """Store `turn.assistant_message` after `turn.user_message` (or in place of the reply after it), add the
    constraints the model `noted` to the session's, and release."""
    reply = turn.assistant_message
    return FINISH.call(
        _turn_keys(keys, idem),
        (
            token,
            reply.id,
            reply.seq if replace else turn.user_message.seq,
            "replace" if replace else "append",
            codec.encode_message(reply),
            codec.encode_mood(inferred_mood) if inferred_mood else "",
            _ms(cfg.chat_ttl_seconds),
            _ms(cfg.mood_ttl_seconds),
            cfg.max_stored_messages,
            idem.fingerprint if idem else "",
            idem.digest if idem else "",
            codec.turn_after_mood(turn),
            codec.encode_constraints(noted),
        ),
    )


def parse_finish(raw: list[Any]) -> tuple[Mood | None, Constraints]:
    """The session's mood and constraints after the turn; TurnInProgress if the lock was lost (nothing was
    written)."""
    if raw[0] != b"ok":
        raise TurnInProgress("the turn lock expired before the reply was stored; nothing was written")
    return codec.decode_mood(raw[1]), codec.decode_constraints(raw[2])


def summary_call(keys: SessionKeys, cfg: LLMSettings, *, token: str, summary: RollingSummary) -> Call:
    return SUMMARY.call(
        (keys.lock.queue, keys.lock.expiries, keys.messages, keys.summary),
        (token, summary.text, summary.through, cfg.max_stored_messages, _ms(cfg.chat_ttl_seconds)),
    )


def parse_summary(raw: bytes) -> None:
    if raw != b"ok":
        raise TurnInProgress("the turn lock was lost before the summary was stored")


def range_call(keys: SessionKeys, start: int, stop: int) -> Call:
    """Messages by list index, both ends included."""
    return Call(("LRANGE", keys.messages, start, stop))


def parse_messages(raw: list[bytes]) -> tuple[Message, ...]:
    return codec.decode_messages(raw)


def conversation_call(keys: SessionKeys) -> Call:
    return CONVERSATION.call((keys.messages, keys.mood, keys.summary, keys.constraints))


def parse_conversation(raw: list[Any]) -> tuple[Conversation, int]:
    """The conversation, and the seq its rolling summary runs through."""
    mood, text, through, constraints, *messages = raw
    return Conversation(
        messages=parse_messages(messages),
        mood=codec.decode_mood(mood),
        rolling_summary=text.decode(),
        constraints=codec.decode_constraints(constraints),
    ), through


def constraints_read_call(keys: SessionKeys) -> Call:
    return Call(("HGETALL", keys.constraints))


def constraints_call(keys: SessionKeys, cfg: LLMSettings, constraints: Constraints) -> Call:
    """Replace the session's constraints (the customer's act), unless it was ended or erased."""
    return CONSTRAINTS.call(
        (keys.constraints, keys.lock.closed), (codec.encode_constraints(constraints), _ms(cfg.chat_ttl_seconds))
    )


def parse_constraints(raw: list[Any]) -> Constraints:
    if raw[0] != b"ok":
        raise SessionClosed()
    return codec.decode_constraints(raw[1])


def answered_call(keys: SessionKeys, idem: codec.Idempotency) -> Call:
    return Call(("HMGET", keys.record(idem.digest), "fingerprint", "turn"))


def parse_answered(raw: list[Any], idem: codec.Idempotency) -> bool:
    """Whether the record holds this very request, complete (a retry of it is a replay)."""
    fingerprint, turn = raw
    return fingerprint is not None and fingerprint.decode() == idem.fingerprint and turn is not None


def owe_call(keys: SessionKeys, digest: str) -> Call:
    """Mark the complete record of `digest` as owing its turn's recording (see `Turn.recording_owed`)."""
    return OWE.call((keys.record(digest),))


def revise_call(keys: SessionKeys, turn: Turn, idem_digest: str | None) -> Call:
    """Store `turn`'s revised reply in place of the stored one (same id), and in its idempotency record if any."""
    record = (keys.record(idem_digest),) if idem_digest else ()
    reply = turn.assistant_message
    return REVISE.call((keys.messages, *record), (reply.id, codec.encode_message(reply), codec.encode_turn(turn)))


def mood_call(keys: SessionKeys, cfg: LLMSettings, mood: Mood) -> Call:
    return MOOD.call((keys.mood, keys.lock.closed), (codec.encode_mood(mood), _ms(cfg.mood_ttl_seconds)))


def parse_mood(raw: bytes) -> None:
    if raw != b"ok":
        raise SessionClosed()


def mood_read_call(keys: SessionKeys) -> Call:
    return Call(("GET", keys.mood))


def closed_seconds(cfg: LLMSettings) -> float:
    """How long an ended or erased session's closed marker lives: until every turn in its line (or arriving late
    from a request that saw the session open) has given up waiting."""
    return cfg.turn_lock_wait_seconds + 2.0


def erase_call(keys: SessionKeys, cfg: LLMSettings) -> Call:
    return ERASE.call(
        (keys.messages, keys.mood, keys.summary, keys.idempotency, *keys.lock.all, keys.lock.closed, keys.constraints),
        (f"{keys.prefix}:idem:", _ms(closed_seconds(cfg))),
    )


# The lock's keys outlive a lease by a day: a holder whose machine was paused finds its ticket still first in line
# when it resumes, however far the wall clock moved on meanwhile (up to that; see `holds` in lua/prelude.lua). A
# released lock leaves only its ticket counter behind (Redis drops an empty queue and expiries hash).
LOCK_KEYS_SPARE_MS = 86_400_000


def lock_try_call(keys: LockKeys, *, token: str, hold_seconds: float, grace_seconds: float) -> Call:
    hold, grace = _ms(hold_seconds), _ms(grace_seconds)
    return LOCK_TRY.call((*keys.all, keys.closed), (token, hold, grace, max(hold, grace) + LOCK_KEYS_SPARE_MS))


def lock_renew_call(keys: LockKeys, *, token: str, hold_seconds: float) -> Call:
    hold = _ms(hold_seconds)
    return LOCK_RENEW.call(keys.all, (token, hold, hold + LOCK_KEYS_SPARE_MS))


def lock_release_call(keys: LockKeys, *, token: str) -> Call:
    return LOCK_RELEASE.call((keys.queue, keys.expiries), (token,))
