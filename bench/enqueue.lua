-- wrk script for bench/ingest.py: POSTs PagerDuty Events API v2 events, a fixed number
-- of them, and reports exact counts and timings as one JSON line.
--
--   wrk -t T -c C -d 300s -s bench/enqueue.lua URL -- SCENARIO ROUTING_KEY EVENTS T TAG
--
-- SCENARIO: unique (every event its own dedup key), storm (one key for all), mix (70%
-- repeats of 50 keys, 20% unique keys, 10% resolves of the 50 keys).
-- Each thread sends its share of EVENTS and no more: once its share is sent, a
-- connection that would send again sends nothing (an empty request) and waits; once
-- every answer is in, the thread stops and says so on stderr, so the driver ends wrk
-- at once instead of waiting out -d. So every event counted was answered, and the
-- server has nothing of ours in flight when wrk returns.
-- Idle connections need a server that keeps connections in a poller (gunicorn's
-- gthread workers do); a sync worker would sit on one until its timeout.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local timespec = ffi.new("bench_timespec")
local CLOCK_MONOTONIC = 1

local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) / 1e9
end

-- In the main state: number the threads and keep them for done().
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

-- In each thread's own state from here on.
local TRIGGER = '{"routing_key":"%s","event_action":"trigger","dedup_key":"%s",'
  .. '"payload":{"summary":"%s: HTTP 5xx ratio 7.2%% over 5m (threshold 5%%)","source":"%s",'
  .. '"severity":"critical","component":"checkout","group":"web","class":"http_5xx",'
  .. '"custom_details":{"ratio":0.072,"threshold":0.05,"region":"eu-west-1","pod":"web-%d"}},'
  .. '"client":"bench","links":[{"href":"https://grafana.example.com/d/checkout","text":"Dashboard"}]}'
local RESOLVE = '{"routing_key":"%s","event_action":"resolve","dedup_key":"%s"}'
local HEADERS = { ["Content-Type"] = "application/json" }

function init(args)
  scenario, routing_key, tag = args[1], args[2], args[5]
  local total, nthreads = tonumber(args[3]), tonumber(args[4])
  quota = math.floor(total / nthreads) + ((id < total % nthreads) and 1 or 0)
  issued, answered, accepted, rejected = 0, 0, 0, 0
  triggers, resolves, repeats, uniques = 0, 0, 0, 0
  math.randomseed(7919 * (id + 1))
  -- wrk calls request() once on the first thread to check it makes a valid request,
  -- and never sends that one: answer it without counting.
  verifying = (id == 0)
  if scenario ~= "unique" and scenario ~= "storm" and scenario ~= "mix" then
    io.stderr:write("unknown scenario " .. tostring(scenario) .. "\n")
    os.exit(2)
  end
end

local function trigger(key)
  triggers = triggers + 1
  return string.format(TRIGGER, routing_key, key, key, "host-" .. (issued % 97), issued % 13)
end

function request()
  if verifying then
    verifying = false
    return wrk.format("POST", nil, HEADERS, string.format(RESOLVE, routing_key, "check"))
  end
  if issued >= quota then
    return ""
  end
  issued = issued + 1
  if started == nil then
    started = now()
  end
  local body
  if scenario == "storm" then
    body = trigger("storm")
  elseif scenario == "unique" then
    body = trigger(string.format("u-%s-%d-%d", tag, id, issued))
  else
    local r = math.random()
    if r < 0.7 then
      repeats = repeats + 1
      body = trigger("mix-" .. math.random(50))
    elseif r < 0.9 then
      uniques = uniques + 1
      body = trigger(string.format("m-%s-%d-%d", tag, id, issued))
    else
      resolves = resolves + 1
      body = string.format(RESOLVE, routing_key, "mix-" .. math.random(50))
    end
  end
  return wrk.format("POST", nil, HEADERS, body)
end

function response(status, headers, body)
  answered = answered + 1
  if status >= 200 and status < 300 then
    accepted = accepted + 1
  else
    rejected = rejected + 1
    if rejected <= 3 then
      io.stderr:write("answer " .. status .. ": " .. string.sub(body, 1, 300) .. "\n")
    end
  end
  if answered % 250 == 0 then
    io.stderr:write("progress\n")  -- the driver gives up on a run that stops answering
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
  local totals = { issued = 0, answered = 0, accepted = 0, rejected = 0,
                   triggers = 0, resolves = 0, repeats = 0, uniques = 0 }
  local first, last, complete = math.huge, 0, true
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + (thread:get(name) or 0)
    end
    local started, finished = thread:get("started"), thread:get("finished")
    if started then first = math.min(first, started) end
    if finished then last = math.max(last, finished) else complete = false end
  end
  local parts = {}
  for name, value in pairs(totals) do
    table.insert(parts, string.format('"%s":%d', name, value))
  end
  io.write(string.format(
    'BENCH {%s,"complete":%s,"elapsed":%.6f,"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,"max_us":%.0f,'
    .. '"socket_errors":%d}\n',
    table.concat(parts, ","), tostring(complete), complete and (last - first) or 0,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
