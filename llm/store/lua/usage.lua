-- Add a turn's tokens to the customer's day, once per usage id: a round trip sent again (redis-py retries a whole
-- pipeline after a dropped connection) finds its id among the ones counted lately and counts nothing. Returns 1 if
-- counted now, 0 if counted before.
local tokens_today, counted = KEYS[1], KEYS[2]
local usage_id, tokens, day_ttl_s, keep_ms = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', counted, '-inf', now - keep_ms)
local fresh = redis.call('ZADD', counted, 'NX', now, usage_id)
if fresh == 1 then
  redis.call('INCRBY', tokens_today, tokens)
  redis.call('EXPIRE', tokens_today, day_ttl_s)
end
redis.call('PEXPIRE', counted, keep_ms)
return fresh
