-- A complete idempotency record's turn could not be recorded (the database failed after the reply was stored): mark
-- the recording owed, for the first replay of the record to make (BEGIN claims it). A record gone (expired, erased)
-- is left gone. KEYS: the record. Returns 1 when marked.
local record = KEYS[1]
if redis.call('HEXISTS', record, 'turn') == 0 then return 0 end
redis.call('HSET', record, 'unrecorded', '1')
return 1
