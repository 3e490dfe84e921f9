-- Give the turn lock, or a place in its line, back. Idempotent.
local queue, expiries = KEYS[1], KEYS[2]
local token = ARGV[1]

drop_ticket(queue, expiries, token)
return 1
