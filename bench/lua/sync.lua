-- Synchronous predictions: one POST per prediction, the answer holds the output.
-- Counts successes (a finished prediction in the body) apart from everything else.
-- args: <path> <success status> [bearer token] [prefer header]
local threads = {}
function setup(thread) table.insert(threads, thread) end

function init(args)
  ok, rejected = 0, 0
  expected = tonumber(args[2])
  local headers = {["Content-Type"] = "application/json"}
  if args[3] and args[3] ~= "" then headers["Authorization"] = "Bearer " .. args[3] end
  if args[4] and args[4] ~= "" then headers["Prefer"] = args[4] end
  req = wrk.format("POST", args[1], headers, '{"input":{"prompt":"hello world","delay":0}}')
end

function request() return req end

function response(status, headers, body)
  if status == expected and string.find(body, '"status":"succeeded"', 1, true) then
    ok = ok + 1
  else
    rejected = rejected + 1
  end
end

function done(summary, latency, requests)
  local o, r = 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); r = r + t:get("rejected") end
  io.write(string.format("RESULT ok=%d rejected=%d seconds=%.3f p50_ms=%.3f p99_ms=%.3f\n",
    o, r, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
