-- Admit one request of a customer within a sliding window: {'ok' | 'requests', ms until a request leaves the
-- window}. A retried call (same request id) is admitted once.
local requests = KEYS[1]
local request_id, per_window, window_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', requests, '-inf', now - window_ms)
if not redis.call('ZSCORE', requests, request_id) then
  if redis.call('ZCARD', requests) >= per_window then
    local oldest = tonumber(redis.call('ZRANGE', requests, 0, 0, 'WITHSCORES')[2])
    return {'requests', oldest + window_ms - now}
  end
  redis.call('ZADD', requests, now, request_id)
end
redis.call('PEXPIRE', requests, window_ms)
return {'ok', 0}
