-- Delete every key of a session and set its closed marker, so that no turn in line (or arriving late) writes into
-- it again: LOCK_TRY refuses while the marker lives (long enough for any waiter to give up on its own). The
-- idempotency records are named from their index: they share the session's hash tag, hence its slot.
-- KEYS: messages, mood, summary, idempotency index, lock queue, expiries, tickets, closed marker, constraints.
local idem_index, closed = KEYS[4], KEYS[8]
local record_prefix, closed_ttl_ms = ARGV[1], ARGV[2]

for _, digest in ipairs(redis.call('ZRANGE', idem_index, 0, -1)) do redis.call('DEL', record_prefix .. digest) end
local deleted = redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[9])
redis.call('SET', closed, '1', 'PX', closed_ttl_ms)
return deleted
