"""Conversation state in Redis: the keys of a session, the JSON of what is stored, and the Lua scripts that change it.

Every write is one Lua script (one round trip, atomic). A script that writes during a turn first checks that the
caller's turn-lock ticket is the live head of the queue (fencing, see llm/lock.py) and writes nothing otherwise. Every
script is also idempotent under the client's one retry (llm/redis.py): a message or ticket carries an id chosen in
Python, and a script that finds its own work already done does it no second time.

Operations come as a call builder and a parser around a generic runner (`run` for redis-py's sync client, `arun` for
its asyncio client), so the sync and async turns share everything but the await.
"""

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import redis
import redis.asyncio
from redis.exceptions import NoScriptError

from llm.conf import LLMSettings
from llm.data import Conversation, Message, Mood, Turn, Usage
from llm.errors import IdempotencyConflict, NothingToRegenerate, StoreUnavailable, TurnInProgress

# --- keys --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LockKeys:
    queue: str  # sorted set: ticket token -> ticket number
    expiries: str  # hash: ticket token -> expiry (ms, Redis clock)
    tickets: str  # counter handing out ticket numbers

    @property
    def all(self) -> tuple[str, str, str]:
        return (self.queue, self.expiries, self.tickets)


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """Every key of one session. The braces are a Redis Cluster hash tag: all of them live in one slot."""

    prefix: str
    messages: str
    mood: str
    summary: str
    idempotency: str  # sorted set: digests of the session's idempotency records -> their expiry (ms)
    lock: LockKeys

    def record(self, digest: str) -> str:
        """The key of one idempotency record."""
        return f"{self.prefix}:idem:{digest}"

    @property
    def turn(self) -> tuple[str, ...]:
        """The keys a turn script touches, in the order the scripts expect them."""
        return (self.lock.queue, self.lock.expiries, self.messages, self.mood, self.summary, self.idempotency)


def session_keys(session_id: UUID) -> SessionKeys:
    prefix = f"chat:{{{session_id}}}"
    return SessionKeys(
        prefix=prefix,
        messages=f"{prefix}:messages",
        mood=f"{prefix}:mood",
        summary=f"{prefix}:summary",
        idempotency=f"{prefix}:idem",
        lock=LockKeys(queue=f"{prefix}:lock", expiries=f"{prefix}:lock:expiry", tickets=f"{prefix}:lock:ticket"),
    )


# --- stored JSON -------------------------------------------------------------------------------------------


def _json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _message_fields(message: Message) -> dict[str, Any]:
    # seq first and tokens second: the scripts read both from the start of the JSON without decoding it.
    fields: dict[str, Any] = {
        "seq": message.seq,
        "tokens": message.tokens,
        "id": message.id,
        "role": message.role,
        "content": message.content,
        "created_at": message.created_at.isoformat(),
    }
    if message.interrupted:
        fields["interrupted"] = True
    return fields


def encode_message(message: Message) -> str:
    return _json(_message_fields(message))


def message_body(message: Message) -> str:
    """The stored JSON of a message after its `{"seq":N,` head, for a script that assigns the seq."""
    fields = _message_fields(message)
    del fields["seq"]
    return _json(fields)[1:]


def _message(fields: dict[str, Any]) -> Message:
    return Message(
        id=fields["id"],
        seq=fields["seq"],
        role=fields["role"],
        content=fields["content"],
        tokens=fields["tokens"],
        created_at=datetime.fromisoformat(fields["created_at"]),
        interrupted=fields.get("interrupted", False),
    )


def decode_message(raw: bytes | str) -> Message:
    return _message(json.loads(raw))


def decode_messages(raw: Sequence[bytes]) -> tuple[Message, ...]:
    # One JSON document for the lot: a single decoder call costs a third of one call per message.
    return tuple(_message(fields) for fields in json.loads(b"[" + b",".join(raw) + b"]"))


def encode_mood(mood: Mood) -> str:
    return _json({"mood": mood.mood, "source": mood.source, "set_at": mood.set_at.isoformat()})


def _mood(fields: dict[str, Any] | None) -> Mood | None:
    if not fields:
        return None
    return Mood(mood=fields["mood"], source=fields["source"], set_at=datetime.fromisoformat(fields["set_at"]))


def decode_mood(raw: bytes | str | None) -> Mood | None:
    return _mood(json.loads(raw)) if raw else None


def _turn_fields(turn: Turn) -> dict[str, Any]:
    return {
        "user_message": _message_fields(turn.user_message),
        "assistant_message": _message_fields(turn.assistant_message),
        "usage": {"prompt_tokens": turn.usage.prompt_tokens, "completion_tokens": turn.usage.completion_tokens},
        "provider": turn.provider,
        "messages_added": turn.messages_added,
    }


def decode_turn(raw: bytes | str) -> Turn:
    fields = json.loads(raw)
    return Turn(
        user_message=_message(fields["user_message"]),
        assistant_message=_message(fields["assistant_message"]),
        mood=_mood(fields["mood"]),
        usage=Usage(**fields["usage"]),
        provider=fields["provider"],
        messages_added=fields.get("messages_added", 0),  # absent from records stored before it was kept
    )


@dataclass(frozen=True, slots=True)
class Idempotency:
    """An Idempotency-Key as stored: the SHA-256 of the key, and of what the request asked for."""

    digest: str
    fingerprint: str


def idempotency(key: str | None, *, kind: str, text: str) -> Idempotency | None:
    if key is None:
        return None
    return Idempotency(
        digest=hashlib.sha256(key.encode()).hexdigest(),
        fingerprint=hashlib.sha256(f"{kind}\n{text}".encode()).hexdigest(),
    )


@dataclass(frozen=True, slots=True)
class RollingSummary:
    text: str
    through: int  # the seq of the last message folded into `text` (0: none)


# --- scripts and running them ------------------------------------------------------------------------------


# A script that declares flags (Redis 7) is checked before it runs: on a Redis that refuses writes (a read-only
# replica, OOM under `noeviction`, MISCONF after a failed snapshot) it fails at once, before any command. Without the
# line, Redis checks OOM only at a script's first write, and only if it could grow memory: a script that first
# trimmed or deleted something would go on writing, and a turn could get half-way.
_SHEBANG = "#!lua"


@dataclass(frozen=True, slots=True)
class Script:
    source: str
    sha: str

    @classmethod
    def of(cls, *parts: str) -> "Script":
        source = "\n".join([_SHEBANG, *parts])
        return cls(source, hashlib.sha1(source.encode()).hexdigest())  # noqa: S324 - Redis names scripts by SHA-1

    def call(self, keys: Sequence[str], args: Iterable[Any] = ()) -> "Call":
        return Call(("EVALSHA", self.sha, len(keys), *keys, *args), self)


@dataclass(frozen=True, slots=True)
class Call:
    """One command: a script with its keys and arguments (run by EVALSHA), or a plain Redis command."""

    command: tuple[Any, ...]
    script: Script | None = None


@contextmanager
def unavailable() -> Iterator[None]:
    """Re-raise any Redis failure as StoreUnavailable: no `redis.*` exception leaves llm."""
    try:
        yield
    except redis.RedisError as exc:
        raise StoreUnavailable(f"conversation store failed ({type(exc).__name__})") from exc


def run(client: redis.Redis, call: Call) -> Any:
    """Run one call in one round trip (two more, once, if Redis lost the script cache)."""
    with unavailable():
        try:
            return client.execute_command(*call.command)
        except NoScriptError:
            assert call.script is not None
            client.script_load(call.script.source)
            return client.execute_command(*call.command)


async def arun(client: redis.asyncio.Redis, call: Call) -> Any:
    """`run` for the asyncio client."""
    with unavailable():
        try:
            return await client.execute_command(*call.command)
        except NoScriptError:
            assert call.script is not None
            await client.script_load(call.script.source)
            return await client.execute_command(*call.command)


def run_all(client: redis.Redis, calls: Sequence[Call]) -> list[Any]:
    """Run calls in one round trip (a non-transactional pipeline; each script is atomic on its own).

    Not redis-py's script-in-pipeline, which asks SCRIPT EXISTS first: one more round trip on every call.
    """
    with unavailable():
        pipe = client.pipeline(transaction=False)
        for call in calls:
            pipe.execute_command(*call.command)
        results = pipe.execute(raise_on_error=False)
        for i, result in enumerate(results):
            if isinstance(result, NoScriptError):
                results[i] = run(client, calls[i])
        return _raise_errors(results)


async def arun_all(client: redis.asyncio.Redis, calls: Sequence[Call]) -> list[Any]:
    """`run_all` for the asyncio client."""
    with unavailable():
        pipe = client.pipeline(transaction=False)
        for call in calls:
            pipe.execute_command(*call.command)
        results = await pipe.execute(raise_on_error=False)
        for i, result in enumerate(results):
            if isinstance(result, NoScriptError):
                results[i] = await arun(client, calls[i])
        return _raise_errors(results)


def _raise_errors(results: list[Any]) -> list[Any]:
    for result in results:
        if isinstance(result, redis.RedisError):
            raise result
    return results


# Lua shared by the scripts. Times come from the Redis clock, so hosts with skewed clocks agree on expiries.
_PRELUDE = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The turn lock: the lowest live ticket holds it. Expired tickets met at the front are dropped, so a dead holder
-- or waiter blocks nobody past its expiry.
local function live_head(queue, expiries, now)
  while true do
    local head = redis.call('ZRANGE', queue, 0, 0)[1]
    if not head then return nil end
    local expires = tonumber(redis.call('HGET', expiries, head))
    if expires and expires > now then return head end
    redis.call('ZREM', queue, head)
    redis.call('HDEL', expiries, head)
  end
end

local function drop_ticket(queue, expiries, token)
  redis.call('ZREM', queue, token)
  redis.call('HDEL', expiries, token)
end

local function seq_of(message)
  return tonumber(string.match(message, '^{"seq":(%d+)'))
end

local function role_of(message)
  return string.match(message, '^{"seq":%d+,"tokens":%d+,"id":"[^"]*","role":"(%a+)"')
end

local function has_id(message, id)
  return message and string.find(message, '"id":"' .. id .. '"', 1, true) ~= nil
end

-- Messages leave the list (beyond the cap) only once the rolling summary covers them.
local function trim_folded(messages, summary, cap)
  local excess = redis.call('LLEN', messages) - cap
  if excess <= 0 then return end
  local first = seq_of(redis.call('LINDEX', messages, 0))
  local through = tonumber(redis.call('HGET', summary, 'through')) or 0
  local n = math.min(excess, through - first + 1)
  if n > 0 then redis.call('LTRIM', messages, n, -1) end
end
"""

# KEYS: lock queue, expiries, tickets. ARGV: token, hold ms, waiter grace ms, keys ttl ms. Returns 1 if held, else 0.
# A ticket found expired (its owner was too slow to poll) queues again at the back.
LOCK_TRY = Script.of(
    _PRELUDE,
    """
local queue, expiries, tickets = KEYS[1], KEYS[2], KEYS[3]
local token = ARGV[1]
local now = now_ms()
local expires = tonumber(redis.call('HGET', expiries, token))
if expires and expires <= now then
  drop_ticket(queue, expiries, token)
  expires = nil
end
if not expires then
  redis.call('ZADD', queue, redis.call('INCR', tickets), token)
  redis.call('HSET', expiries, token, now + tonumber(ARGV[3]))
end
local held = live_head(queue, expiries, now) == token
redis.call('HSET', expiries, token, now + tonumber(held and ARGV[2] or ARGV[3]))
for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, ARGV[4]) end
return held and 1 or 0
""",
)

# KEYS: lock queue, expiries. ARGV: token.
LOCK_RELEASE = Script.of(_PRELUDE, "drop_ticket(KEYS[1], KEYS[2], ARGV[1])\nreturn 1")

# KEYS: SessionKeys.turn [+ idempotency record].
# ARGV: token, mode (send | regenerate), message id, message body, tail budget, tail max, chat ttl ms, mood ttl ms,
# fingerprint, record digest.
# Appends the user message (send), refreshes the TTLs, and returns what the window needs: {status, user seq,
# replaced seq, stored count, last seq, mood, summary text, summary through, tail newest first...}. The tail is the
# newest messages whose stored token counts fit the budget (the newest always), so a long history costs nothing.
# With an idempotency record: a complete one is replayed and a different fingerprint refused, both without writing;
# a first attempt leaves the record pending ({fingerprint, user_seq}); a pending one (an earlier attempt failed after
# its BEGIN) answers its user message again, as regenerate would, unless the conversation has moved on since.
BEGIN = Script.of(
    _PRELUDE,
    """
local queue, expiries, messages, mood, summary, idem_index, record = unpack(KEYS)
local token, mode = ARGV[1], ARGV[2]
local now = now_ms()
if live_head(queue, expiries, now) ~= token then return {'fenced'} end
local pending
if record then
  local stored = redis.call('HMGET', record, 'fingerprint', 'turn', 'user_seq')
  if stored[1] then
    if stored[1] ~= ARGV[9] then
      drop_ticket(queue, expiries, token)
      return {'conflict'}
    end
    if stored[2] then
      drop_ticket(queue, expiries, token)
      return {'replay', stored[2]}
    end
    pending = tonumber(stored[3])
  end
end
local last = redis.call('LINDEX', messages, -1)
local last_seq = last and seq_of(last) or 0
local user_seq, replaced_seq, skip = last_seq, 0, 0
if pending then
  -- Its message is the last one, or only a reply (stored by a regenerate, or interrupted) follows it.
  if last_seq == pending + 1 and role_of(last) == 'assistant' then
    user_seq, replaced_seq, skip = pending, last_seq, 1
  elseif last_seq ~= pending then
    drop_ticket(queue, expiries, token)
    return {'moved'}
  end
elseif mode == 'send' then
  if not has_id(last, ARGV[3]) then
    user_seq = last_seq + 1
    last_seq = user_seq
    redis.call('RPUSH', messages, '{"seq":' .. user_seq .. ',' .. ARGV[4])
  end
else
  local role = last and role_of(last)
  if role == 'assistant' then
    user_seq, replaced_seq, skip = last_seq - 1, last_seq, 1
  elseif role ~= 'user' then
    drop_ticket(queue, expiries, token)
    return {'nothing'}
  end
end
if record and not pending then
  redis.call('HSET', record, 'fingerprint', ARGV[9], 'user_seq', user_seq)
  redis.call('PEXPIRE', record, ARGV[7])
  redis.call('ZREMRANGEBYSCORE', idem_index, '-inf', now)
  redis.call('ZADD', idem_index, now + tonumber(ARGV[7]), ARGV[10])
end
redis.call('PEXPIRE', messages, ARGV[7])
redis.call('PEXPIRE', summary, ARGV[7])
redis.call('PEXPIRE', idem_index, ARGV[7])
redis.call('PEXPIRE', mood, ARGV[8])
local result = {'ok', user_seq, replaced_seq, redis.call('LLEN', messages), last_seq, redis.call('GET', mood) or '',
  redis.call('HGET', summary, 'text') or '', tonumber(redis.call('HGET', summary, 'through')) or 0}
local budget, limit = tonumber(ARGV[5]), tonumber(ARGV[6])
local used, taken, offset, chunk = 0, 0, skip, 32
while true do
  local items = redis.call('LRANGE', messages, -(offset + chunk), -(offset + 1))
  for i = #items, 1, -1 do
    local cost = tonumber(string.match(items[i], '^{"seq":%d+,"tokens":(%d+)'))
    if taken > 0 and (used + cost > budget or taken >= limit) then return result end
    used, taken = used + cost, taken + 1
    result[#result + 1] = items[i]
  end
  if #items < chunk then return result end
  offset = offset + chunk
end
""",
)

# KEYS: SessionKeys.turn [+ idempotency record].
# ARGV: token, reply id, expected last seq, mode (append | replace), reply json, inferred mood json or '',
# chat ttl ms, mood ttl ms, cap, fingerprint, record digest, record turn json after its mood.
# Stores the reply (after the user message, or in place of the reply it regenerates), an inferred mood unless the
# user set one, the idempotency record (now complete: fingerprint and turn); trims folded messages beyond the cap,
# refreshes TTLs, releases the lock.
# Returns {status, mood json or ''}.
FINISH = Script.of(
    _PRELUDE,
    """
local queue, expiries, messages, mood, summary, idem_index, record = unpack(KEYS)
local token = ARGV[1]
local now = now_ms()
local last = redis.call('LINDEX', messages, -1)
if not has_id(last, ARGV[2]) then
  if live_head(queue, expiries, now) ~= token then return {'fenced'} end
  if not last or seq_of(last) ~= tonumber(ARGV[3]) then
    drop_ticket(queue, expiries, token)
    return {'fenced'}
  end
  if ARGV[4] == 'append' then
    redis.call('RPUSH', messages, ARGV[5])
  else
    redis.call('LSET', messages, -1, ARGV[5])
  end
  if ARGV[6] ~= '' then
    local current = redis.call('GET', mood)
    if not current or cjson.decode(current)['source'] ~= 'user' then
      redis.call('SET', mood, ARGV[6], 'PX', ARGV[8])
    end
  end
  trim_folded(messages, summary, tonumber(ARGV[9]))
  local ttl = tonumber(ARGV[7])
  if record then
    redis.call('HSET', record, 'fingerprint', ARGV[10], 'turn',
      '{"mood":' .. (redis.call('GET', mood) or 'null') .. ',' .. ARGV[12])
    redis.call('HDEL', record, 'user_seq')
    redis.call('PEXPIRE', record, ttl)
    redis.call('ZREMRANGEBYSCORE', idem_index, '-inf', now)
    redis.call('ZADD', idem_index, now + ttl, ARGV[11])
  end
  redis.call('PEXPIRE', messages, ttl)
  redis.call('PEXPIRE', summary, ttl)
  redis.call('PEXPIRE', idem_index, ttl)
  redis.call('PEXPIRE', mood, ARGV[8])
  drop_ticket(queue, expiries, token)
end
return {'ok', redis.call('GET', mood) or ''}
""",
)

# KEYS: lock queue, expiries, messages, summary. ARGV: token, text, through, cap, chat ttl ms.
SUMMARY = Script.of(
    _PRELUDE,
    """
local queue, expiries, messages, summary = unpack(KEYS)
if live_head(queue, expiries, now_ms()) ~= ARGV[1] then return 'fenced' end
if tonumber(ARGV[3]) > (tonumber(redis.call('HGET', summary, 'through')) or 0) then
  redis.call('HSET', summary, 'text', ARGV[2], 'through', ARGV[3])
end
redis.call('PEXPIRE', summary, ARGV[5])
trim_folded(messages, summary, tonumber(ARGV[4]))
return 'ok'
""",
)

# KEYS: messages, mood, summary. Returns {mood json or '', summary text, summary through, messages oldest first...}.
CONVERSATION = Script.of(
    """
local result = {redis.call('GET', KEYS[2]) or '', redis.call('HGET', KEYS[3], 'text') or '',
  tonumber(redis.call('HGET', KEYS[3], 'through')) or 0}
for _, message in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do result[#result + 1] = message end
return result
"""
)

# KEYS: messages, mood, summary, idempotency index, lock queue, expiries, tickets. ARGV: idempotency record prefix.
# The records are named from the index: they share the session's hash tag, hence its slot.
ERASE = Script.of(
    """
for _, digest in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do redis.call('DEL', ARGV[1] .. digest) end
return redis.call('DEL', unpack(KEYS))
"""
)


# --- session operations: call builders and result parsers ----------------------------------------------------


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _turn_keys(keys: SessionKeys, idem: Idempotency | None) -> tuple[str, ...]:
    return keys.turn + ((keys.record(idem.digest),) if idem else ())


@dataclass(frozen=True, slots=True)
class Begun:
    """A turn's view of the session after BEGIN."""

    user_seq: int  # the message being answered
    replaced_seq: int  # regenerate: the seq of the reply being replaced, else 0
    stored: int  # messages in the list
    last_seq: int
    mood: Mood | None
    summary: RollingSummary
    tail: tuple[Message, ...]  # the newest messages within the budget, oldest first (without a replaced reply)


def begin_call(
    keys: SessionKeys,
    cfg: LLMSettings,
    *,
    token: str,
    user: Message | None,
    tail_budget: int,
    tail_limit: int,
    idem: Idempotency | None,
) -> Call:
    """Append `user` (None: regenerate the last reply) and read what the window needs; with `idem`, replay its
    complete record, or answer again the message of its pending one (without appending `user`)."""
    return BEGIN.call(
        _turn_keys(keys, idem),
        (
            token,
            "send" if user else "regenerate",
            user.id if user else "",
            message_body(user) if user else "",
            tail_budget,
            tail_limit,
            _ms(cfg.chat_ttl_seconds),
            _ms(cfg.mood_ttl_seconds),
            idem.fingerprint if idem else "",
            idem.digest if idem else "",
        ),
    )


def parse_begin(raw: list[Any]) -> Begun | Turn:
    """The session as BEGIN saw it, or the earlier Turn of a replayed idempotency key."""
    status = raw[0].decode()
    if status == "replay":
        return decode_turn(raw[1])
    if status == "conflict":
        raise IdempotencyConflict()
    if status == "moved":
        raise IdempotencyConflict(
            "The turn of this Idempotency-Key failed and the conversation has moved on since; retry with a new key."
        )
    if status == "nothing":
        raise NothingToRegenerate()
    if status == "fenced":
        raise TurnInProgress("the turn lock was lost before the message was stored")
    user_seq, replaced_seq, stored, last_seq, mood, text, through, *tail = raw[1:]
    return Begun(
        user_seq=user_seq,
        replaced_seq=replaced_seq,
        stored=stored,
        last_seq=last_seq,
        mood=decode_mood(mood),
        summary=RollingSummary(text.decode(), through),
        tail=decode_messages(tail[::-1]),
    )


def finish_call(
    keys: SessionKeys,
    cfg: LLMSettings,
    *,
    token: str,
    turn: Turn,
    replace: bool,
    inferred_mood: Mood | None,
    idem: Idempotency | None,
) -> Call:
    """Store `turn.assistant_message` after `turn.user_message` (or in place of the reply after it) and release."""
    reply = turn.assistant_message
    return FINISH.call(
        _turn_keys(keys, idem),
        (
            token,
            reply.id,
            reply.seq if replace else turn.user_message.seq,
            "replace" if replace else "append",
            encode_message(reply),
            encode_mood(inferred_mood) if inferred_mood else "",
            _ms(cfg.chat_ttl_seconds),
            _ms(cfg.mood_ttl_seconds),
            cfg.max_stored_messages,
            idem.fingerprint if idem else "",
            idem.digest if idem else "",
            _json(_turn_fields(turn))[1:],
        ),
    )


def parse_finish(raw: list[Any]) -> Mood | None:
    """The session's mood after the turn; TurnInProgress if the lock was lost (nothing was written)."""
    if raw[0] != b"ok":
        raise TurnInProgress("the turn lock expired before the reply was stored; nothing was written")
    return decode_mood(raw[1])


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
    return decode_messages(raw)


def conversation_call(keys: SessionKeys) -> Call:
    return CONVERSATION.call((keys.messages, keys.mood, keys.summary))


def parse_conversation(raw: list[Any]) -> tuple[Conversation, int]:
    """The conversation, and the seq its rolling summary runs through."""
    mood, text, through, *messages = raw
    return Conversation(
        messages=parse_messages(messages), mood=decode_mood(mood), rolling_summary=text.decode()
    ), through


def mood_call(keys: SessionKeys, cfg: LLMSettings, mood: Mood) -> Call:
    return Call(("SET", keys.mood, encode_mood(mood), "PX", _ms(cfg.mood_ttl_seconds)))


def mood_read_call(keys: SessionKeys) -> Call:
    return Call(("GET", keys.mood))


def erase_call(keys: SessionKeys) -> Call:
    return ERASE.call(
        (keys.messages, keys.mood, keys.summary, keys.idempotency, *keys.lock.all), (f"{keys.prefix}:idem:",)
    )


def lock_try_call(keys: LockKeys, *, token: str, hold_seconds: float, grace_seconds: float) -> Call:
    hold, grace = _ms(hold_seconds), _ms(grace_seconds)
    return LOCK_TRY.call(keys.all, (token, hold, grace, max(hold, grace) + 1000))


def lock_release_call(keys: LockKeys, *, token: str) -> Call:
    return LOCK_RELEASE.call((keys.queue, keys.expiries), (token,))
