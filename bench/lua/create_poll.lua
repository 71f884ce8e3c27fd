-- Create, then poll GET urls.get until the prediction finishes, as the official
-- clients do (without their 0.5 s pause, to load the server). One connection per
-- wrk thread, so each thread's state is its connection's.
-- args: <model path> <bearer token>
local threads = {}
function setup(thread) table.insert(threads, thread) end

function init(args)
  finished, polls = 0, 0
  headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. args[2]}
  create = wrk.format("POST", args[1], headers, '{"input":{"prompt":"hello world","delay":0}}')
  current = nil
end

function request()
  if current == nil then return create end
  return wrk.format("GET", "/v1/predictions/" .. current, headers)
end

function response(status, headers, body)
  if current == nil then
    current = string.match(body, '"id":"(%w+)"')
  elseif string.find(body, '"status":"succeeded"', 1, true) then
    finished = finished + 1
    current = nil
  else
    polls = polls + 1
  end
end

function done(summary, latency, requests)
  local f, p = 0, 0
  for _, t in ipairs(threads) do f = f + t:get("finished"); p = p + t:get("polls") end
  io.write(string.format("RESULT ok=%d polls=%d seconds=%.3f p50_ms=%.3f p99_ms=%.3f\n",
    f, p, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
