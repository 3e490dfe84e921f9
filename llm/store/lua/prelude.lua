-- Shared by the scripts of a session. Times come from the Redis clock, so hosts with skewed clocks agree on expiries.

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The turn lock: the lowest live ticket holds it. Expired tickets met at the front are dropped, so a dead holder
-- or waiter blocks nobody past its expiry.
local function live_head(queue, expiries, now)
  while true do
    local head = redis.call('ZRANGE', queue, 0, 0)[1]
    if not head then return nil end
    local expires = tonumber(redis.call('HGET', expiries, head))
    if expires and expires > now then return head end
    redis.call('ZREM', queue, head)
    redis.call('HDEL', expiries, head)
  end
end

-- Whether `token` holds the lock, for the holder's own writes and renewal: its ticket is first in line. Its expiry
-- may have passed unnoticed: expiries are reckoned on the wall clock, which a machine resumed from a pause moves on
-- by minutes at once while the turn itself took seconds. Only a ticket behind it meeting it expired (live_head)
-- drops it, and only then can another turn write: until that happens no one else has, and the holder goes on.
local function holds(queue, token)
  return redis.call('ZRANGE', queue, 0, 0)[1] == token
end

local function drop_ticket(queue, expiries, token)
  redis.call('ZREM', queue, token)
  redis.call('HDEL', expiries, token)
end

local function seq_of(message)
  return tonumber(string.match(message, '^{"seq":(%d+)'))
end

local function role_of(message)
  return string.match(message, '^{"seq":%d+,"tokens":%d+,"id":"[^"]*","role":"(%a+)"')
end

local function has_id(message, id)
  return message and string.find(message, '"id":"' .. id .. '"', 1, true) ~= nil
end

-- Messages leave the list (beyond the cap) only once the rolling summary covers them.
local function trim_folded(messages, summary, cap)
  local excess = redis.call('LLEN', messages) - cap
  if excess <= 0 then return end
  local first = seq_of(redis.call('LINDEX', messages, 0))
  local through = tonumber(redis.call('HGET', summary, 'through')) or 0
  local n = math.min(excess, through - first + 1)
  if n > 0 then redis.call('LTRIM', messages, n, -1) end
end

-- A session's constraints: a hash of 'allergen:<code>', 'diet:<code>', 'tag:<tag>', 'kind:<kind>' (each '1') and
-- 'max_price' (minor units). `stated` holds the rules to add, one a line ('max_price=<n>' for a cap): codes and tags
-- are added, the lower cap is kept, stated kinds replace the kinds (what is asked for, not a rule of the body or the
-- money). Nothing else is ever removed here: only the customer's replacement (CONSTRAINTS) loosens a rule.
local function tighten(constraints, stated, ttl_ms)
  if stated ~= '' then
    local kinds = string.find('\n' .. stated, '\nkind:') ~= nil
    if kinds then
      for _, field in ipairs(redis.call('HKEYS', constraints)) do
        if string.sub(field, 1, 5) == 'kind:' then redis.call('HDEL', constraints, field) end
      end
    end
    for line in string.gmatch(stated, '[^\n]+') do
      local cap = string.match(line, '^max_price=(%d+)$')
      if cap then
        local current = tonumber(redis.call('HGET', constraints, 'max_price'))
        if not current or tonumber(cap) < current then redis.call('HSET', constraints, 'max_price', cap) end
      else
        redis.call('HSET', constraints, line, '1')
      end
    end
  end
  redis.call('PEXPIRE', constraints, ttl_ms)
  return redis.call('HGETALL', constraints)
end
