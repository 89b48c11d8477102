-- Counts one user's live tabs over all pages, for the tab limits of the Redis registry (see
-- mod.rs). A tab is counted until a deadline a little past its page's, and is dropped once
-- that passes, so a tab that expired without a leave stops counting by itself.
--
-- KEYS: the user's tabs, a sorted set of '<page>\n<tab id>' → deadline (Redis time, µs).
-- ARGV: operation, tab, then for admit: how long to count it (µs), the most tabs a user may
-- have, 1 if the registry is full.
--   admit    count the tab, or refresh its deadline; a new tab only if there is room
--   release  stop counting the tab
-- Answers 1 (done), 0 (the user has the most tabs allowed) or -1 (the registry is full).
local key, op, tab = KEYS[1], ARGV[1], ARGV[2]
if op == 'release' then
  redis.call('ZREM', key, tab)
  return 1
end
local ttl, limit, full = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == '1'
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. string.format('%d', now))
if not redis.call('ZSCORE', key, tab) then
  if redis.call('ZCARD', key) >= limit then
    return 0
  end
  if full then
    return -1
  end
end
redis.call('ZADD', key, string.format('%d', now + ttl), tab)
redis.call('PEXPIRE', key, math.ceil(ttl / 1000))
return 1
