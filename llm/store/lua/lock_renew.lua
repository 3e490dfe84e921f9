-- Renew the holder's lease: 1 if `token` still holds the lock (its expiry moves to now + hold), else 0.
local queue, expiries, tickets = KEYS[1], KEYS[2], KEYS[3]
local token, hold_ms, keys_ttl_ms = ARGV[1], tonumber(ARGV[2]), ARGV[3]

local now = now_ms()
if not holds(queue, token) then return 0 end
redis.call('HSET', expiries, token, now + hold_ms)
for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, keys_ttl_ms) end
return 1
