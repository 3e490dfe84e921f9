-- Admit one turn of a customer: {'ok' | 'tokens' | 'turns', ms until a turn leaves the window}. A retried call (same
-- turn id) is admitted once.
local turns, tokens_today = KEYS[1], KEYS[2]
local turn_id, per_window, window_ms, daily_quota = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])

if tonumber(redis.call('GET', tokens_today) or '0') >= daily_quota then return {'tokens', 0} end
local wait = window_admit(turns, turn_id, per_window, window_ms, now_ms())
if wait then return {'turns', wait} end
return {'ok', 0}
