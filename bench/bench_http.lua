-- wrk script for bench/bench_http.py: each request is the next complaint of the bodies file (one JSON body a
-- line, realistic texts from corpus/stories) with an Idempotency-Key of its own; each thread stops after its
-- share (the requests still in flight on its other connections then are not counted). Run as: wrk -t T -c C -d SECONDS -s bench_http.lua URL -- BODIES_FILE COUNT RUN_ID T
-- done() prints one line, "wrk-result {...}" (JSON), with the counts per status and the latency percentiles.

local threads = {}

function setup(thread)
   thread:set("index", #threads)
   table.insert(threads, thread)
end

function init(args)
   local file, count, run, thread_count = args[1], tonumber(args[2]), args[3], tonumber(args[4])
   local per_thread = math.ceil(count / thread_count)
   local first = index * per_thread -- a slice of its own: no two requests share a body or a key
   bodies, n = {}, 0
   for line in io.lines(file) do
      if n >= first + per_thread then break end
      if n >= first then table.insert(bodies, line) end
      n = n + 1
   end
   prefix, sent, received, statuses = run .. "-" .. index .. "-", 0, 0, {}
end

function request()
   sent = sent + 1
   local body = bodies[(sent - 1) % #bodies + 1]
   local headers = { ["Content-Type"] = "application/json", ["Idempotency-Key"] = prefix .. sent }
   return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
   received = received + 1
   statuses[status] = (statuses[status] or 0) + 1
   if received == #bodies then
      io.write("wrk-all-received\n") -- wrk itself would wait out its -d: bench_http.py interrupts it now
      io.flush()
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local counts = {}
   for _, thread in ipairs(threads) do
      for status, n in pairs(thread:get("statuses")) do
         counts[status] = (counts[status] or 0) + n
      end
   end
   local outcomes = {}
   for status, n in pairs(counts) do
      table.insert(outcomes, string.format('"%d": %d', status, n))
   end
   local e = summary.errors
   io.write(string.format(
      'wrk-result {"requests": %d, "seconds": %.3f, "p50_ms": %.1f, "p99_ms": %.1f, "max_ms": %.1f, '
         .. '"socket_errors": %d, "outcomes": {%s}}\n',
      summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3,
      latency.max / 1e3, e.connect + e.read + e.write + e.timeout, table.concat(outcomes, ", ")
   ))
end
