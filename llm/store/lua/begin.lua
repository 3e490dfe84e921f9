-- A turn's first write: append the user message (send), refresh the TTLs, and return what the window needs:
-- {status, user seq, replaced seq, stored count, last seq, mood, summary text, summary through, constraints, tail
-- newest first...}; the constraints the message stated are added to the session's (`tighten`), in the same write.
-- The tail is the newest messages whose stored token counts fit the budget (the newest always), so a long history
-- costs nothing. With an idempotency record: a complete one is replayed and a different fingerprint refused, both
-- without writing; a first attempt leaves the record pending ({fingerprint, user_seq}); a pending one (an earlier
-- attempt failed after its BEGIN) answers its user message again, as regenerate would, unless the conversation has
-- moved on since. A regenerate that names the seq it expects last (not 0) is refused if another is last. A replay
-- claims a recording its record owes (OWE marked it '1'): the flag becomes the replay's ticket, so that exactly one
-- replay records, and the client's one retry of this script finds its own claim.
local queue, expiries, messages, mood, summary, idem_index, constraints, record = unpack(KEYS)
local token, mode, message_id, message_body = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local budget, limit = tonumber(ARGV[5]), tonumber(ARGV[6])
local chat_ttl_ms, mood_ttl_ms = ARGV[7], ARGV[8]
local fingerprint, digest, expected_seq, stated = ARGV[9], ARGV[10], tonumber(ARGV[11]), ARGV[12]

local now = now_ms()
if not holds(queue, token) then return {'fenced'} end
local pending
if record then
  local stored = redis.call('HMGET', record, 'fingerprint', 'turn', 'user_seq', 'unrecorded')
  if stored[1] then
    if stored[1] ~= fingerprint then
      drop_ticket(queue, expiries, token)
      return {'conflict'}
    end
    if stored[2] then
      drop_ticket(queue, expiries, token)
      local owed = stored[4] == '1' or stored[4] == token
      if owed then redis.call('HSET', record, 'unrecorded', token) end
      return {'replay', stored[2], owed and 1 or 0}
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
    return {'retry_overtaken'}
  end
elseif mode == 'send' then
  if not has_id(last, message_id) then
    user_seq = last_seq + 1
    last_seq = user_seq
    redis.call('RPUSH', messages, '{"seq":' .. user_seq .. ',' .. message_body)
  end
else
  if expected_seq > 0 and last_seq ~= expected_seq then
    drop_ticket(queue, expiries, token)
    return {'expected_seq_not_last'}
  end
  local role = last and role_of(last)
  if role == 'assistant' then
    user_seq, replaced_seq, skip = last_seq - 1, last_seq, 1
  elseif role ~= 'user' then
    drop_ticket(queue, expiries, token)
    return {'nothing'}
  end
end
if record and not pending then
  redis.call('HSET', record, 'fingerprint', fingerprint, 'user_seq', user_seq)
  redis.call('PEXPIRE', record, chat_ttl_ms)
  redis.call('ZREMRANGEBYSCORE', idem_index, '-inf', now)
  redis.call('ZADD', idem_index, now + tonumber(chat_ttl_ms), digest)
end
redis.call('PEXPIRE', messages, chat_ttl_ms)
redis.call('PEXPIRE', summary, chat_ttl_ms)
redis.call('PEXPIRE', idem_index, chat_ttl_ms)
redis.call('PEXPIRE', mood, mood_ttl_ms)
local result = {'ok', user_seq, replaced_seq, redis.call('LLEN', messages), last_seq, redis.call('GET', mood) or '',
  redis.call('HGET', summary, 'text') or '', tonumber(redis.call('HGET', summary, 'through')) or 0,
  tighten(constraints, stated, chat_ttl_ms)}
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
