-- GET one prediction, as a polling client does.
-- args: <path> <bearer token>
local threads = {}
function setup(thread) table.insert(threads, thread) end

function init(args)
  ok, rejected = 0, 0
  req = wrk.format("GET", args[1], {["Authorization"] = "Bearer " .. args[2]})
end

function request() return req end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else rejected = rejected + 1 end
end

function done(summary, latency, requests)
  local o, r = 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); r = r + t:get("rejected") end
  io.write(string.format("RESULT ok=%d rejected=%d seconds=%.3f p50_ms=%.3f p99_ms=%.3f\n",
    o, r, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
