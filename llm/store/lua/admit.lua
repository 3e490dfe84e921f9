-- Admit one turn of a customer: {'ok' | 'tokens' | 'turns', ms until a turn leaves the window}. A retried call (same
-- turn id) is admitted once.
local turns, tokens_today = KEYS[1], KEYS[2]
local turn_id, per_window, window_ms, daily_quota = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(redis.call('GET', tokens_today) or '0') >= daily_quota then return {'tokens', 0} end
redis.call('ZREMRANGEBYSCORE', turns, '-inf', now - window_ms)
if not redis.call('ZSCORE', turns, turn_id) then
  if redis.call('ZCARD', turns) >= per_window then
    local oldest = tonumber(redis.call('ZRANGE', turns, 0, 0, 'WITHSCORES')[2])
    return {'turns', oldest + window_ms - now}
  end
  redis.call('ZADD', turns, now, turn_id)
end
redis.call('PEXPIRE', turns, window_ms)
return {'ok', 0}
