-- POST the JSON body read from the file given as the first script argument, and print
-- one machine-readable summary line (latencies in microseconds) when the run ends.
-- An optional second argument is a pause in milliseconds before each request on each
-- connection: wrk has no rate option, so the soak test paces its load this way.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function init(args)
   local f = assert(io.open(args[1], "rb"))
   wrk.body = f:read("*a")
   f:close()
   if args[2] then
      local pause = tonumber(args[2])
      delay = function() return pause end
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "p999": %d, "max": %d, "mean": %.1f}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max, latency.mean))
end
