-- One atomic step on one page of the Redis registry (see mod.rs): expire the page's due
-- tabs, do the operation, then commit what changed. A step touches only the tabs it changes
-- and their users' few other tabs on the page, never the whole page, so it costs
-- O(log n) in the page's tabs (an expiry, that much per tab it expires).
--
-- KEYS: the page's tabs, deadlines, users, meta, viewers, editors and owned keys (one hash
-- tag: one Cluster slot).
-- ARGV: operation, page path, events channel, TTL in µs, then the operation's own:
--   touch <tab field> <keep|true|false>      join or heartbeat, and the editing state
--   refresh <tab field> <keep|true|false>    touch, if the tab is there (adds no tab)
--   leave <tab field>
--   read                                     expiry only
--   presence <limit>                         expiry, and answer the first viewers
--   viewer <user>                            expiry, and answer that viewer
--   saved <peak viewer count> <peak µs>      the stats sampler saved this peak
-- Answers {version (0: no live tabs), earliest deadline (0: none), 1 if the peak needs
-- saving, tabs expired, viewers as {user, joinedAt µs, tabs, editing since µs or 0}
-- (presence and viewer only), 1 if the tab touched was there, viewer count, tab count,
-- editor ('' if none)}.
local tabs, deadlines, users, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local viewers, editors, owned = KEYS[5], KEYS[6], KEYS[7]
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

-- The user's tab ids on this page: `owned` holds them space-separated.
local function tabs_of(user)
  local ids = {}
  for id in string.gmatch(redis.call('HGET', owned, user) or '', '%S+') do
    table.insert(ids, id)
  end
  return ids
end

-- Folds the user's tabs on the page into their place among the viewers (by earliest
-- joinedAt) and the editors (by earliest editing start).
local function refold(user)
  local ids = tabs_of(user)
  if #ids == 0 then
    redis.call('HDEL', owned, user)
    redis.call('ZREM', viewers, user)
    redis.call('ZREM', editors, user)
    return
  end
  local fields = {}
  for i, id in ipairs(ids) do
    fields[i] = id .. ':' .. user
  end
  local joined, since = nil, nil
  for _, state in ipairs(redis.call('HMGET', tabs, unpack(fields))) do
    if state then
      local j, s = parse(state)
      joined = math.min(joined or j, j)
      if s > 0 then
        since = math.min(since or s, s)
      end
    end
  end
  redis.call('ZADD', viewers, int(joined), user)
  if since then
    redis.call('ZADD', editors, int(since), user)
  else
    redis.call('ZREM', editors, user)
  end
end

-- Rebuilds the users, viewers, editors and owned keys from the tabs, reading the whole
-- page once. Only a page changed by a script that does not keep them (an instance not yet
-- upgraded: it leaves `indexed` behind `version`, or the viewers behind the users) or one
-- that lost keys to an eviction needs this.
local function reindex()
  redis.call('DEL', users, viewers, editors, owned)
  local by_user, counts = {}, {}
  for _, field in ipairs(redis.call('HKEYS', tabs)) do
    local id, user = split(field)
    by_user[user] = by_user[user] and (by_user[user] .. ' ' .. id) or id
    counts[user] = (counts[user] or 0) + 1
  end
  for user, ids in pairs(by_user) do
    redis.call('HSET', owned, user, ids)
    redis.call('HSET', users, user, counts[user])
    refold(user)
  end
end

local function add(field)
  local id, user = split(field)
  local ids = redis.call('HGET', owned, user)
  redis.call('HSET', owned, user, ids and (ids .. ' ' .. id) or id)
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
  redis.call('HSET', owned, user, table.concat(rest, ' '))
  refold(user)
  if redis.call('HINCRBY', users, user, -1) <= 0 then
    redis.call('HDEL', users, user)
    table.insert(message, '-' .. user)
  end
  return true
end

local version, indexed = unpack(redis.call('HMGET', meta, 'version', 'indexed'))
version = tonumber(version or '0')
local stale = tonumber(indexed or '0') ~= version or redis.call('ZCARD', viewers) ~= redis.call('HLEN', users)
if stale or (version == 0 and redis.call('EXISTS', tabs) == 1) then
  reindex()
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
  end
  if not state or was ~= since then
    refold(select(2, split(field)))
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

-- The viewers named, in join order, as the answer gives them.
local function describe(named)
  local answer = {}
  if #named == 0 then
    return answer
  end
  local counts = redis.call('HMGET', users, unpack(named))
  local since = redis.call('ZMSCORE', editors, unpack(named))
  local joined = redis.call('ZMSCORE', viewers, unpack(named))
  for i, user in ipairs(named) do
    if joined[i] then
      table.insert(answer, { user, int(tonumber(joined[i])), tonumber(counts[i] or '0'), int(tonumber(since[i] or '0')) })
    end
  end
  return answer
end

local listed = {}
if live and op == 'presence' then
  -- A limit past the viewers may be too big for Redis to read as an integer.
  local limit = math.min(tonumber(ARGV[5]), redis.call('ZCARD', viewers))
  if limit > 0 then
    listed = describe(redis.call('ZRANGE', viewers, 0, limit - 1))
  end
elseif live and op == 'viewer' then
  listed = describe({ ARGV[5] })
end
local editor = live and redis.call('ZRANGE', editors, 0, 0)[1] or ''
return { version, earliest, unsaved, expired, listed, found, redis.call('ZCARD', viewers), redis.call('HLEN', tabs), editor }
