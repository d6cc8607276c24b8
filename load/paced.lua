-- wrk script for load/: requests at a steady rate, an exact number of them, with
-- exact counts and timings reported as one JSON line (the shape bench/_harness.py's
-- run_wrk reads).
--
--   wrk -t T -c C -d LIMITs -s load/paced.lua URL -- MODE RATE TOTAL T TAG [MODE ARGS…]
--
-- RATE is requests per second over all threads; TOTAL how many to send in all.
-- MODE events: POST PagerDuty Events API v2 events to the URL (/v2/enqueue);
--   MODE ARGS: ROUTING_KEYS (comma-separated) HOT WARM
--   90% trigger one of HOT "hot" keys (problems that persist: they fold into their
--   open alert), 8% trigger one of WARM keys of this run (problems that come and go:
--   the first trigger of each opens an alert, and the first after a resolve opens a
--   new one), 2% resolve one of the WARM keys. Keys are spread over the routing keys,
--   so over services.
-- MODE get: GET the URL (the status page) with Accept-Encoding: gzip.
--
-- Pacing: wrk asks delay() before each request on a connection; each call takes the
-- thread's next slot (start + k / rate) and waits for it. The first request of each
-- connection goes at once. Latency is wrk's: from writing a request to its answer.
-- Once a thread's share is sent its connections send nothing more; when every
-- answer is in it says `thread-done` on stderr and stops, so when wrk returns
-- nothing we sent is in flight.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } paced_timespec;
int clock_gettime(int clock_id, paced_timespec *tp);
]]
local timespec = ffi.new("paced_timespec")

local function now()
  ffi.C.clock_gettime(1, timespec)  -- CLOCK_MONOTONIC
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) / 1e9
end

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local TRIGGER = '{"routing_key":"%s","event_action":"trigger","dedup_key":"%s",'
  .. '"payload":{"summary":"%s: %s","source":"%s","severity":"%s","component":"web","group":"prod",'
  .. '"class":"load","custom_details":{"run":"%s","pod":"web-%d","value":%d}},"client":"load"}'
local RESOLVE = '{"routing_key":"%s","event_action":"resolve","dedup_key":"%s"}'
local JSON_HEADERS = { ["Content-Type"] = "application/json" }
local GET_HEADERS = { ["Accept-Encoding"] = "gzip" }
local SUMMARIES = { "HTTP 5xx ratio above 5%", "p99 latency above 2 s", "error budget burning fast",
                    "replica lag above 30 s", "queue depth above 10,000", "disk 91% full" }

function init(args)
  mode, tag = args[1], args[5]
  local rate, total, nthreads = tonumber(args[2]), tonumber(args[3]), tonumber(args[4])
  quota = math.floor(total / nthreads) + ((id < total % nthreads) and 1 or 0)
  interval = nthreads / rate
  issued, answered, accepted, rejected, slots = 0, 0, 0, 0, 0
  triggers, resolves, hot_triggers, warm_triggers = 0, 0, 0, 0
  statuses = {}
  math.randomseed(104729 * (id + 1) + #tag)
  verifying = (id == 0)  -- wrk builds one request on the first thread to check it, and never sends it
  if mode == "events" then
    keys = {}
    for key in string.gmatch(args[6], "[^,]+") do table.insert(keys, key) end
    hot, warm = tonumber(args[7]), tonumber(args[8])
  elseif mode ~= "get" then
    io.stderr:write("unknown mode " .. tostring(mode) .. "\n")
    os.exit(2)
  end
end

function delay()
  if issued >= quota then
    return 60000
  end
  if started == nil then
    started = now()
  end
  local at = started + slots * interval
  slots = slots + 1
  local wait = (at - now()) * 1000
  return wait > 0 and math.floor(wait) or 0
end

local function event_body()
  local r = math.random()
  local key, severity, n
  if r < 0.90 then
    n = math.random(hot)
    key = string.format("hot-%d", n)
    severity = (n % 5 == 0) and "error" or "critical"
    hot_triggers = hot_triggers + 1
  elseif r < 0.98 then
    n = math.random(warm)
    key = string.format("warm-%s-%d", tag, n)
    severity = (n % 3 == 0) and "warning" or "error"
    warm_triggers = warm_triggers + 1
  else
    n = math.random(warm)
    resolves = resolves + 1
    return string.format(RESOLVE, keys[n % #keys + 1], string.format("warm-%s-%d", tag, n))
  end
  triggers = triggers + 1
  return string.format(TRIGGER, keys[n % #keys + 1], key, key, SUMMARIES[n % #SUMMARIES + 1], "host-" .. (n % 17),
                       severity, tag, issued % 13, issued)
end

function request()
  if verifying then
    verifying = false
    if mode == "events" then
      return wrk.format("POST", nil, JSON_HEADERS, string.format(RESOLVE, keys[1], "verify"))
    end
    return wrk.format("GET", nil, GET_HEADERS)
  end
  if issued >= quota then
    return ""
  end
  issued = issued + 1
  if started == nil then
    started = now()
  end
  if mode == "events" then
    return wrk.format("POST", nil, JSON_HEADERS, event_body())
  end
  return wrk.format("GET", nil, GET_HEADERS)
end

function response(status, headers, body)
  answered = answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  if status >= 200 and status < 300 then
    accepted = accepted + 1
  else
    rejected = rejected + 1
    if rejected <= 5 then
      io.stderr:write("answer " .. status .. ": " .. string.gsub(string.sub(body or "", 1, 300), "\n", " ") .. "\n")
    end
  end
  if answered % 200 == 0 then
    io.stderr:write("progress\n")
    io.stderr:flush()
  end
  if answered >= quota then
    finished = now()
    io.stderr:write("thread-done\n")
    io.stderr:flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local totals = { issued = 0, answered = 0, accepted = 0, rejected = 0, triggers = 0, resolves = 0,
                   hot_triggers = 0, warm_triggers = 0 }
  local codes = {}
  local first, last, complete = math.huge, 0, true
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + (thread:get(name) or 0)
    end
    local started, finished = thread:get("started"), thread:get("finished")
    if started then first = math.min(first, started) end
    if finished then last = math.max(last, finished) else complete = false end
    local seen = thread:get("statuses") or {}
    for code, count in pairs(seen) do
      codes[code] = (codes[code] or 0) + count
    end
  end
  local parts = {}
  for name, value in pairs(totals) do
    table.insert(parts, string.format('"%s":%d', name, value))
  end
  local code_parts = {}
  for code, count in pairs(codes) do
    table.insert(code_parts, string.format('"%d":%d', code, count))
  end
  io.write(string.format(
    'BENCH {%s,"statuses":{%s},"complete":%s,"elapsed":%.6f,"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,'
    .. '"max_us":%.0f,"socket_errors":%d}\n',
    table.concat(parts, ","), table.concat(code_parts, ","), tostring(complete), complete and (last - first) or 0,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
