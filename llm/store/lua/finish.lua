-- A turn's last write: store the reply (after the user message, or in place of the reply it regenerates), an
-- inferred mood unless the user set one, the idempotency record (now complete: fingerprint and turn); trim folded
-- messages beyond the cap, add the constraints the model noted (`tighten`), refresh TTLs, release the lock.
-- Returns {status, mood json or '', constraints}.
local queue, expiries, messages, mood, summary, idem_index, constraints, record = unpack(KEYS)
local token, reply_id, expected_last_seq, mode, reply = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local inferred_mood, chat_ttl_ms, mood_ttl_ms, cap = ARGV[6], tonumber(ARGV[7]), ARGV[8], tonumber(ARGV[9])
local fingerprint, digest, turn_after_mood, noted = ARGV[10], ARGV[11], ARGV[12], ARGV[13]

local now = now_ms()
local last = redis.call('LINDEX', messages, -1)
if not has_id(last, reply_id) then
  if not holds(queue, token) then return {'fenced'} end
  if not last or seq_of(last) ~= expected_last_seq then
    drop_ticket(queue, expiries, token)
    return {'fenced'}
  end
  if mode == 'append' then
    redis.call('RPUSH', messages, reply)
  else
    redis.call('LSET', messages, -1, reply)
  end
  if inferred_mood ~= '' then
    local current = redis.call('GET', mood)
    if not current or cjson.decode(current)['source'] ~= 'user' then
      redis.call('SET', mood, inferred_mood, 'PX', mood_ttl_ms)
    end
  end
  trim_folded(messages, summary, cap)
  if record then
    redis.call('HSET', record, 'fingerprint', fingerprint, 'turn',
      '{"mood":' .. (redis.call('GET', mood) or 'null') .. ',' .. turn_after_mood)
    redis.call('HDEL', record, 'user_seq')
    redis.call('PEXPIRE', record, chat_ttl_ms)
    redis.call('ZREMRANGEBYSCORE', idem_index, '-inf', now)
    redis.call('ZADD', idem_index, now + chat_ttl_ms, digest)
  end
  redis.call('PEXPIRE', messages, chat_ttl_ms)
  redis.call('PEXPIRE', summary, chat_ttl_ms)
  redis.call('PEXPIRE', idem_index, chat_ttl_ms)
  redis.call('PEXPIRE', mood, mood_ttl_ms)
  tighten(constraints, noted, chat_ttl_ms)
  drop_ticket(queue, expiries, token)
end
return {'ok', redis.call('GET', mood) or '', redis.call('HGETALL', constraints)}
