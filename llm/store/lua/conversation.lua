-- Read a session whole: {mood json or '', summary text, summary through, messages oldest first...}.
local messages, mood, summary = KEYS[1], KEYS[2], KEYS[3]

local result = {redis.call('GET', mood) or '', redis.call('HGET', summary, 'text') or '',
  tonumber(redis.call('HGET', summary, 'through')) or 0}
for _, message in ipairs(redis.call('LRANGE', messages, 0, -1)) do result[#result + 1] = message end
return result
