-- wrk script for tenantpool's load benchmark.
--
--   wrk ... -s zipf.lua http://127.0.0.1:PORT/ -- <tenants> <s> <domain> <seed>
--
-- Every request is `GET /` with `Host: t<k>.<domain>`. With one tenant the request is static
-- (wrk's fast path). With several, tenant k is drawn from a Zipf distribution with exponent s
-- (P(k) proportional to k^-s), by binary search in a CDF precomputed once per thread, over
-- requests preformatted once per thread. `done` prints one JSON line for the driver.

local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("thread_id", counter)
end

local n, cdf, reqs

local function zipf_request()
   local r = math.random()
   local lo, hi = 1, n
   while lo < hi do
      local mid = math.floor((lo + hi) / 2)
      if cdf[mid] < r then lo = mid + 1 else hi = mid end
   end
   return reqs[lo]
end

function init(args)
   n = tonumber(args[1]) or 1
   local s = tonumber(args[2]) or 1.1
   local domain = args[3] or "lb.localhost"
   local seed = tonumber(args[4]) or 1
   if n <= 1 then
      wrk.headers["Host"] = "t1." .. domain
      return
   end
   cdf, reqs = {}, {}
   local total = 0
   for k = 1, n do
      total = total + k ^ (-s)
      cdf[k] = total
   end
   for k = 1, n do
      cdf[k] = cdf[k] / total
      reqs[k] = wrk.format("GET", "/", { Host = "t" .. k .. "." .. domain })
   end
   cdf[n] = 1.0
   math.randomseed(seed * 7919 + (thread_id or 0) * 104729)
   request = zipf_request
end

function done(summary, latency, requests)
   local e = summary.errors
   local function us(p) return math.floor(latency:percentile(p)) end
   io.write(string.format(
      'LOADBENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,' ..
      '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
      '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%d}\n',
      summary.requests, summary.duration, summary.bytes, e.status,
      e.connect, e.read, e.write, e.timeout,
      us(50), us(90), us(99), math.floor(latency.max), math.floor(latency.mean)))
end
