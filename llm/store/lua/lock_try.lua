-- Take a ticket of the turn lock (or keep the one taken), and say whether it holds the lock: 1 if held, else 0;
-- -1 once the session was ended or erased (its closed marker is set): the line takes no more tickets.
-- A ticket found expired (its owner was too slow to poll) queues again at the back.
local queue, expiries, tickets, closed = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local token, hold_ms, grace_ms, keys_ttl_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]

if redis.call('EXISTS', closed) == 1 then
  drop_ticket(queue, expiries, token)
  return -1
end
local now = now_ms()
local expires = tonumber(redis.call('HGET', expiries, token))
if expires and expires <= now then
  drop_ticket(queue, expiries, token)
  expires = nil
end
if not expires then
  redis.call('ZADD', queue, redis.call('INCR', tickets), token)
  redis.call('HSET', expiries, token, now + grace_ms)
end
local held = live_head(queue, expiries, now) == token
redis.call('HSET', expiries, token, now + (held and hold_ms or grace_ms))
for _, key in ipairs({queue, expiries, tickets}) do redis.call('PEXPIRE', key, keys_ttl_ms) end
return held and 1 or 0
