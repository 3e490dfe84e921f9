-- Set the session's mood, unless the session was ended or erased (its closed marker is set): 'ok' or 'closed'.
local mood, closed = KEYS[1], KEYS[2]
local value, ttl_ms = ARGV[1], ARGV[2]

if redis.call('EXISTS', closed) == 1 then return 'closed' end
redis.call('SET', mood, value, 'PX', ttl_ms)
return 'ok'
