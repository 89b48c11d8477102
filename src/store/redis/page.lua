-- One atomic step on one page of the Redis registry (see mod.rs): expire the page's due
-- tabs, do the operation, then commit what changed.
--
-- KEYS: the page's tabs, deadlines, users and meta keys (one hash tag: one Cluster slot).
-- ARGV: operation, page path, events channel, TTL in µs, then the operation's own:
--   touch <tab field> <keep|true|false>      join or heartbeat, and the editing state
--   refresh <tab field> <keep|true|false>    touch, if the tab is there (adds no tab)
--   leave <tab field>
--   read                                     expiry only
--   presence                                 expiry, and answer the tabs
--   saved <peak viewer count> <peak µs>      the stats sampler saved this peak
-- Answers {version (0: no live tabs), earliest deadline (0: none), 1 if the peak needs
-- saving, tabs expired, the tabs as field, state pairs (presence only), 1 if the tab touched
-- was there}.
local tabs, deadlines, users, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local op, page, channel, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])

-- Lua prints numbers with 14 digits, too few for a time in µs: integers go through this.
local function int(n)
  return string.format('%d', n)
end

-- Redis's clock, so every instance dates things alike.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])

-- The message to publish: page, version, then '+user' per join and '-user' per leave.
local message = { page, '' }
local changed, expired, found = false, 0, 0

-- A tab field is '<tab id>:<user id>'; a tab id has no ':'.
local function owner(field)
  return string.sub(field, string.find(field, ':', 1, true) + 1)
end

local function remove(field)
  redis.call('ZREM', deadlines, field)
  if redis.call('HDEL', tabs, field) == 0 then
    return false
  end
  changed = true
  local user = owner(field)
  if redis.call('HINCRBY', users, user, -1) <= 0 then
    redis.call('HDEL', users, user)
    table.insert(message, '-' .. user)
  end
  return true
end

for _, field in ipairs(redis.call('ZRANGEBYSCORE', deadlines, '-inf', '(' .. int(now))) do
  if remove(field) then
    expired = expired + 1
  end
end

local field = ARGV[5]
local state = (op == 'touch' or op == 'refresh') and redis.call('HGET', tabs, field)
if state then
  found = 1
end
if op == 'touch' or (op == 'refresh' and state) then
  local editing = ARGV[6]
  local joined, since = now, 0
  if state then
    local j, s = string.match(state, '^(%d+) (%d+)$')
    joined, since = tonumber(j), tonumber(s)
  else
    changed = true
    local user = owner(field)
    if redis.call('HINCRBY', users, user, 1) == 1 then
      table.insert(message, '+' .. user)
    end
  end
  if editing ~= 'keep' and (editing == 'true') ~= (since > 0) then
    since = editing == 'true' and now or 0
    changed = true
  end
  redis.call('HSET', tabs, field, int(joined) .. ' ' .. int(since))
  redis.call('ZADD', deadlines, int(now + ttl), field)
elseif op == 'leave' then
  remove(field)
end

local live = redis.call('HLEN', tabs) > 0
local version = tonumber(redis.call('HGET', meta, 'version') or '0')
-- A live page without a version lost its meta (an eviction): count it as changed.
if live and version == 0 then
  changed = true
end
local unsaved = 0
if changed then
  -- Later than any version this page had, even one whose meta is gone: Redis's clock
  -- only moves on, and each script takes more than a microsecond.
  version = math.max(version + 1, now)
  redis.call('HSET', meta, 'version', int(version))
  local viewers = redis.call('HLEN', users)
  if viewers > tonumber(redis.call('HGET', meta, 'peak') or '0') then
    redis.call('HSET', meta, 'peak', viewers, 'peak_at', int(now))
    redis.call('HDEL', meta, 'saved')
    unsaved = 1
  end
end
if op == 'saved' then
  local peak = redis.call('HMGET', meta, 'peak', 'peak_at')
  if peak[1] == ARGV[5] and peak[2] == ARGV[6] then
    redis.call('HSET', meta, 'saved', '1')
  end
end
local earliest = 0
if live then
  earliest = tonumber(redis.call('ZRANGE', deadlines, 0, 0, 'WITHSCORES')[2])
else
  version = 0
  -- A page without tabs keeps its meta only while its peak is unsaved.
  if redis.call('HEXISTS', meta, 'peak') == 0 or redis.call('HEXISTS', meta, 'saved') == 1 then
    redis.call('DEL', meta)
  end
end
-- A peak that rose while it was being saved is still to save.
if op == 'saved' and redis.call('HEXISTS', meta, 'peak') == 1 and redis.call('HEXISTS', meta, 'saved') == 0 then
  unsaved = 1
end
if changed then
  message[2] = int(version)
  redis.call('PUBLISH', channel, table.concat(message, '\n'))
end

local answer = { version, earliest, unsaved, expired, {}, found }
if op == 'presence' and live then
  answer[5] = redis.call('HGETALL', tabs)
end
return answer
