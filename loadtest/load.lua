-- The wrk script of loadtest/run.sh: sends the requests loadtest/driver.py wrote to a file, and
-- prints one machine-readable line when the run is done.
--
-- The file (BENCH_REQUESTS) has one request a line, tab-separated:
--   METHOD <tab> PATH <tab> BODY <tab> Header: value <tab> Header: value ...
-- The requests are built once, in init(); each wrk thread cycles through all of them,
-- starting at its own share (BENCH_THREADS tells how many threads share them).
--
-- BENCH_MODE picks what one request() sends; every line's BODY may hold a `%s`, which
-- becomes a tab id that no other request uses:
--   cycle   the line as it is (the default);
--   fresh   the line with a fresh tab id (joins of tabs that are never heard from again);
--   churn   a join of a fresh tab and then its leave, pipelined on one connection so the
--           leave always follows its join; wrk counts both answers as requests but times
--           the pair as one.

local next_thread = 0

function setup(thread)
  thread:set("thread_id", next_thread)
  next_thread = next_thread + 1
end

local function split(line)
  local fields = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do
    fields[#fields + 1] = field
  end
  return fields
end

local mode, lines, requests, position, fresh = "cycle", {}, {}, 1, 0

function init(args)
  mode = os.getenv("BENCH_MODE") or "cycle"
  local path = assert(os.getenv("BENCH_REQUESTS"), "BENCH_REQUESTS names the request file")
  for line in io.lines(path) do
    local fields = split(line)
    local headers = {}
    for i = 4, #fields do
      local name, value = fields[i]:match("^([^:]+):%s*(.*)$")
      headers[name] = value
    end
    local body = fields[3] ~= "" and fields[3] or nil
    lines[#lines + 1] = { method = fields[1], path = fields[2], body = body, headers = headers }
    if mode == "cycle" then
      requests[#requests + 1] = wrk.format(fields[1], fields[2], headers, body)
    end
  end
  assert(#lines > 0, path .. " has no requests")
  local threads = tonumber(os.getenv("BENCH_THREADS") or "1")
  position = math.floor((thread_id or 0) * #lines / threads) % #lines + 1
end

local function fresh_body(line)
  fresh = fresh + 1
  return line.body:format(string.format("b%d-%d", thread_id or 0, fresh))
end

function request()
  if mode == "cycle" then
    local request = requests[position]
    position = position % #requests + 1
    return request
  end
  local line = lines[position]
  position = position % #lines + 1
  local body = fresh_body(line)
  if mode == "fresh" then
    return wrk.format(line.method, line.path, line.headers, body)
  end
  return wrk.format("POST", "/api/presence/join", line.headers, body)
    .. wrk.format("POST", "/api/presence/leave", line.headers, body)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "result requests=%d duration_us=%d bytes=%d p50_us=%d p99_us=%d max_us=%d status_errors=%d socket_errors=%d\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99), latency.max,
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
