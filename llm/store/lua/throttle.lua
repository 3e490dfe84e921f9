-- Admit one request of a customer within a sliding window: {'ok' | 'requests', ms until a request leaves the
-- window}. A retried call (same request id) is admitted once.
local requests = KEYS[1]
local request_id, per_window, window_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])

local wait = window_admit(requests, request_id, per_window, window_ms, now_ms())
if wait then return {'requests', wait} end
return {'ok', 0}
