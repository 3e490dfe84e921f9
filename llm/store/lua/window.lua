-- A sliding window of ids in a sorted set, scored by the Redis clock's milliseconds.

-- Admit `id` into `key` unless `per_window` ids are in it within the last `window_ms`: nil when admitted (a retried
-- call with the same id is admitted once), else the ms until the oldest leaves the window.
local function window_admit(key, id, per_window, window_ms, now)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window_ms)
  if not redis.call('ZSCORE', key, id) then
    if redis.call('ZCARD', key) >= per_window then
      local oldest = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
      return oldest + window_ms - now
    end
    redis.call('ZADD', key, now, id)
  end
  redis.call('PEXPIRE', key, window_ms)
  return nil
end
