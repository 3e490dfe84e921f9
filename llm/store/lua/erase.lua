-- Delete every key of a session. The idempotency records are named from their index: they share the session's
-- hash tag, hence its slot. KEYS: messages, mood, summary, idempotency index, lock queue, expiries, tickets.
local idem_index = KEYS[4]
local record_prefix = ARGV[1]

for _, digest in ipairs(redis.call('ZRANGE', idem_index, 0, -1)) do redis.call('DEL', record_prefix .. digest) end
return redis.call('DEL', unpack(KEYS))
