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
--           the pair as one;
--   once    each thread sends its own share of the lines once, as they are, and stops when
--           every one of them is answered (a fill: over all threads, each line is sent
--           exactly once). A connection with nothing left to send meanwhile sends
--           `GET /healthz`, whose 200 is not counted; a line's answer must not be a 200
--           (a join with `Prefer: return=minimal` answers 204). done() also prints, a
--           thread a field, how many of its lines were sent (so a run cut short by -d
--           tells which lines went out) and the wall-clock times of its first request and
--           of its last line's answer: `once sent=A,B started=S,S finished=F,F` (seconds;
--           0 when it did not finish). As wrk itself runs until -d, a thread that is done
--           writes `once done` to stderr, and the caller may interrupt wrk (SIGINT) once
--           every thread has.

local next_thread = 0
local all_threads = {}

function setup(thread)
  thread:set("thread_id", next_thread)
  next_thread = next_thread + 1
  all_threads[#all_threads + 1] = thread
end

local function split(line)
  local fields = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do
    fields[#fields + 1] = field
  end
  return fields
end

local mode, lines, requests, position, fresh = "cycle", {}, {}, 1, 0
-- once: this thread's share is lines[position .. last], `share` of them; answered so far,
-- and sent so far (a global, so done() reads it with thread:get).
local last, share, answered, idle_request, verified = 0, 0, 0, nil, false
sent, started, finished = 0, 0, 0

local function now()
  local clock = io.popen("date +%s.%N")
  local value = tonumber(clock:read("*l"))
  clock:close()
  return value
end

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
    if mode == "cycle" or mode == "once" then
      requests[#requests + 1] = wrk.format(fields[1], fields[2], headers, body)
    end
  end
  assert(#lines > 0, path .. " has no requests")
  local threads = tonumber(os.getenv("BENCH_THREADS") or "1")
  position = math.floor((thread_id or 0) * #lines / threads) % #lines + 1
  if mode == "once" then
    position = math.floor((thread_id or 0) * #lines / threads) + 1
    last = math.floor(((thread_id or 0) + 1) * #lines / threads)
    share = last - position + 1
    idle_request = wrk.format("GET", "/healthz")
  end
end

local function fresh_body(line)
  fresh = fresh + 1
  return line.body:format(string.format("b%d-%d", thread_id or 0, fresh))
end

function request()
  if mode == "once" then
    if position > last then
      return idle_request
    end
    local request = requests[position]
    -- wrk 4 calls the first thread's request() once before the run, to count the requests
    -- in it (script_verify_request): that call must not use up a line.
    if thread_id == 0 and not verified then
      verified = true
      return request
    end
    if started == 0 then
      started = now()
    end
    position = position + 1
    sent = sent + 1
    return request
  end
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

-- Only in once mode: wrk reads the answers' headers only when the script has a response().
if os.getenv("BENCH_MODE") == "once" then
  function response(status, headers, body)
    if status ~= 200 then
      answered = answered + 1
    end
    if answered >= share and finished == 0 then
      finished = now()
      io.stderr:write("once done\n")
      io.stderr:flush()
      wrk.thread:stop()
    end
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "result requests=%d duration_us=%d bytes=%d p50_us=%d p99_us=%d max_us=%d status_errors=%d socket_errors=%d\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99), latency.max,
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
  if os.getenv("BENCH_MODE") == "once" then
    local counts, starts, ends = {}, {}, {}
    for i, thread in ipairs(all_threads) do
      counts[i] = tostring(thread:get("sent"))
      starts[i] = string.format("%.6f", thread:get("started"))
      ends[i] = string.format("%.6f", thread:get("finished"))
    end
    io.write("once sent=" .. table.concat(counts, ",") .. " started=" .. table.concat(starts, ",")
      .. " finished=" .. table.concat(ends, ",") .. "\n")
  end
end
