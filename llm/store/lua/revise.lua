-- Replace a stored reply (found by its id, from the newest back) with its revised JSON, and the turn its
-- idempotency record keeps, if any, with the revised turn: after the caller's write found some of its cards no
-- longer admissible. A reply folded away or erased is left so. Idempotent. KEYS: messages[, record].
-- ARGV: reply id, reply JSON, turn JSON. Returns 1 when the reply was found.
local messages, record = KEYS[1], KEYS[2]
local reply_id, reply, turn = ARGV[1], ARGV[2], ARGV[3]

if record and redis.call('HEXISTS', record, 'turn') == 1 then redis.call('HSET', record, 'turn', turn) end
local stored = redis.call('LRANGE', messages, 0, -1)
for i = #stored, 1, -1 do
  if has_id(stored[i], reply_id) then
    redis.call('LSET', messages, i - 1, reply)
    return 1
  end
end
return 0
