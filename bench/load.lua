-- wrk script: one request shape from the environment, a JSON summary at the end.
--   BENCH_METHOD, BENCH_PATH, BENCH_BODY_FILE (optional), BENCH_AUTH (optional bearer token),
--   BENCH_COOKIE (optional Cookie header: the UI's session)
wrk.method = os.getenv("BENCH_METHOD") or "GET"
wrk.path = os.getenv("BENCH_PATH") or "/"
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. auth
end
local cookie = os.getenv("BENCH_COOKIE")
if cookie and cookie ~= "" then
  wrk.headers["Cookie"] = cookie
end
local body_file = os.getenv("BENCH_BODY_FILE")
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
end

-- BENCH_DELAY_MS: pace each connection (a random pause averaging this long before each
-- request), for latency at a set request rate rather than at saturation.
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if delay_ms > 0 then
  function delay()
    return math.random(0, math.floor(2 * delay_ms))
  end
end

-- Count answers by status class in every thread, so a run full of 4xx/5xx cannot pass as fast.
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("seed", #threads)
end

function init(args)
  ok, bad = 0, 0
  math.randomseed(seed)  -- so the threads' pauses are not in lockstep
end

function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 else bad = bad + 1 end
end

function done(summary, latency, requests)
  local good, wrong = 0, 0
  for _, t in ipairs(threads) do
    good = good + t:get("ok")
    wrong = wrong + t:get("bad")
  end
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "ok": %d, "not_ok": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, good, wrong,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
