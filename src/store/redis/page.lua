-- One atomic step on one page of the Redis registry (see mod.rs): expire the page's due
-- tabs, do the operation, then commit what changed. A step touches only the tabs it changes
-- and their users' few other tabs on the page, never the whole page, so it costs
-- O(log n) in the page's tabs (an expiry, that much per tab it expires).
--
-- KEYS: the page's tabs, deadlines, users, meta, viewers, editors and owned keys (one hash
-- tag: one Cluster slot).
-- ARGV: operation, page path, how to publish (PUBLISH, or SPUBLISH on a Redis Cluster), the
-- page's events channel (under its hash tag), TTL in µs, then the operation's own:
--   touch <tab field> <keep|true|false>      join or heartbeat, and the editing state
--   refresh <tab field> <keep|true|false>    touch, if the tab is there (adds no tab)
--   leave <tab field>
--   read                                     expiry only (before a read of the page)
--   saved <peak viewer count> <peak µs>      the stats sampler saved this peak
-- Answers {version (0: no live tabs), earliest deadline (0: none), 1 if the peak needs
-- saving, tabs expired, 1 if the tab touched was there}.
local tabs, deadlines, users, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local viewers, editors, owned = KEYS[5], KEYS[6], KEYS[7]
local op, page, publish, channel, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])

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

-- A tab field is '<tab id>:<user id>'; a tab id has no ':' (nor spaces).
local function split(field)
  local colon = string.find(field, ':', 1, true)
  return string.sub(field, 1, colon - 1), string.sub(field, colon + 1)
end

-- A tab's state is '<joinedAt µs> <editing since µs, or 0>'.
local function parse(state)
  local joined, since = string.match(state, '^(%d+) (%d+)$')
  return tonumber(joined), tonumber(since)
end

-- A viewer as `owned` keeps it: '<joinedAt µs> <editing since µs, or 0> <tab id> …', the
-- earliest times of the user's tabs on the page, then their ids.
local function tabs_of(user)
  local ids = {}
  for id in string.gmatch(redis.call('HGET', owned, user) or '', '%S+') do
    table.insert(ids, id)
  end
  return { unpack(ids, 3) }
end

-- Folds the user's tabs (`ids`) into their entry in `owned` and their place among the
-- viewers (by earliest joinedAt) and the editors (by earliest editing start).
local function refold(user, ids)
  local fields = {}
  for i, id in ipairs(ids) do
    fields[i] = id .. ':' .. user
  end
  local joined, since = nil, 0
  for _, state in ipairs(#fields > 0 and redis.call('HMGET', tabs, unpack(fields)) or {}) do
    if state then
      local j, s = parse(state)
      joined = math.min(joined or j, j)
      if s > 0 and (since == 0 or s < since) then
        since = s
      end
    end
  end
  if not joined then
    redis.call('HDEL', owned, user)
    redis.call('ZREM', viewers, user)
    redis.call('ZREM', editors, user)
    return
  end
  redis.call('HSET', owned, user, int(joined) .. ' ' .. int(since) .. ' ' .. table.concat(ids, ' '))
  redis.call('ZADD', viewers, int(joined), user)
  if since > 0 then
    redis.call('ZADD', editors, int(since), user)
  else
    redis.call('ZREM', editors, user)
  end
end

-- Rebuilds the users, viewers, editors and owned keys from the tabs, reading the whole
-- page once. Only a page changed by a script that does not keep them (an instance not yet
-- upgraded, which leaves `indexed` behind `version`, or empties a page without them) or
-- one that lost keys to an eviction needs this.
local function reindex()
  redis.call('DEL', users, viewers, editors, owned)
  local by_user = {}
  for _, field in ipairs(redis.call('HKEYS', tabs)) do
    local id, user = split(field)
    by_user[user] = by_user[user] or {}
    table.insert(by_user[user], id)
  end
  for user, ids in pairs(by_user) do
    redis.call('HSET', users, user, #ids)
    refold(user, ids)
  end
end

local function add(field)
  local id, user = split(field)
  local ids = tabs_of(user)
  table.insert(ids, id)
  refold(user, ids)
  if redis.call('HINCRBY', users, user, 1) == 1 then
    table.insert(message, '+' .. user)
  end
end

local function remove(field)
  redis.call('ZREM', deadlines, field)
  if redis.call('HDEL', tabs, field) == 0 then
    return false
  end
  changed = true
  local id, user = split(field)
  local rest = {}
  for _, other in ipairs(tabs_of(user)) do
    if other ~= id then
      table.insert(rest, other)
    end
  end
  refold(user, rest)
  if redis.call('HINCRBY', users, user, -1) <= 0 then
    redis.call('HDEL', users, user)
    table.insert(message, '-' .. user)
  end
  return true
end

local version, indexed = unpack(redis.call('HMGET', meta, 'version', 'indexed'))
version = tonumber(version or '0')
if tonumber(indexed or '0') ~= version or (version == 0 and redis.call('EXISTS', tabs, viewers) > 0) then
  reindex()
end

for _, field in ipairs(redis.call('ZRANGEBYSCORE', deadlines, '-inf', '(' .. int(now))) do
  if remove(field) then
    expired = expired + 1
  end
end

local field = ARGV[6]
local state = (op == 'touch' or op == 'refresh') and redis.call('HGET', tabs, field)
if state then
  found = 1
end
if op == 'touch' or (op == 'refresh' and state) then
  local editing = ARGV[7]
  local joined, since = now, 0
  if state then
    joined, since = parse(state)
  else
    changed = true
  end
  local was = since
  if editing ~= 'keep' and (editing == 'true') ~= (since > 0) then
    since = editing == 'true' and now or 0
    changed = true
  end
  redis.call('HSET', tabs, field, int(joined) .. ' ' .. int(since))
  redis.call('ZADD', deadlines, int(now + ttl), field)
  if not state then
    add(field)
  elseif was ~= since then
    local _, user = split(field)
    refold(user, tabs_of(user))
  end
elseif op == 'leave' then
  remove(field)
end

local live = redis.call('HLEN', tabs) > 0
-- A live page without a version lost its meta (an eviction): count it as changed.
if live and version == 0 then
  changed = true
end
local unsaved = 0
if changed then
  -- Later than any version this page had, even one whose meta is gone: Redis's clock
  -- only moves on, and each script takes more than a microsecond.
  version = math.max(version + 1, now)
  redis.call('HSET', meta, 'version', int(version), 'indexed', int(version))
  local count = redis.call('HLEN', users)
  if count > tonumber(redis.call('HGET', meta, 'peak') or '0') then
    redis.call('HSET', meta, 'peak', count, 'peak_at', int(now))
    redis.call('HDEL', meta, 'saved')
    unsaved = 1
  end
end
if op == 'saved' then
  local peak = redis.call('HMGET', meta, 'peak', 'peak_at')
  if peak[1] == ARGV[6] and peak[2] == ARGV[7] then
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
  redis.call(publish, channel, table.concat(message, '\n'))
end

return { version, earliest, unsaved, expired, found }
