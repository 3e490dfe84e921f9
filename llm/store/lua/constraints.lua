-- Replace the session's constraints (the customer's own act: the one way a rule is loosened), unless the session was
-- ended or erased (its closed marker is set): {'ok', constraints} or {'closed'}. `fields` as `tighten` takes them.
local constraints, closed = KEYS[1], KEYS[2]
local fields, ttl_ms = ARGV[1], ARGV[2]

if redis.call('EXISTS', closed) == 1 then return {'closed'} end
redis.call('DEL', constraints)
return {'ok', tighten(constraints, fields, ttl_ms)}
