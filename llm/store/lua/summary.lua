-- Store a fold's rolling summary (unless a newer one is stored) and trim the messages it now covers.
local queue, expiries, messages, summary = unpack(KEYS)
local token, text, through, cap, chat_ttl_ms = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]

if not holds(queue, token) then return 'fenced' end
if tonumber(through) > (tonumber(redis.call('HGET', summary, 'through')) or 0) then
  redis.call('HSET', summary, 'text', text, 'through', through)
end
redis.call('PEXPIRE', summary, chat_ttl_ms)
trim_folded(messages, summary, cap)
return 'ok'
