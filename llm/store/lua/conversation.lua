-- Read a session whole: {mood json or '', summary text, summary through, constraints, messages oldest first...}.
local messages, mood, summary, constraints = KEYS[1], KEYS[2], KEYS[3], KEYS[4]

local result = {redis.call('GET', mood) or '', redis.call('HGET', summary, 'text') or '',
  tonumber(redis.call('HGET', summary, 'through')) or 0, redis.call('HGETALL', constraints)}
for _, message in ipairs(redis.call('LRANGE', messages, 0, -1)) do result[#result + 1] = message end
return result
