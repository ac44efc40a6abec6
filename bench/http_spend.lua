-- wrk script: POST .../spend of 1 point with a unique biz_no per request,
-- spread over the members the bench seeded with points.
local counter = 0
local prefix = ""
local key = os.getenv("JIFEN_KEY") or ""
local members = tonumber(os.getenv("JIFEN_BENCH_MEMBERS") or "1000")

function setup(thread)
  thread:set("thread_id", tostring(math.random(1, 1e9)) .. "-" .. tostring(os.time()))
end

function init(args)
  prefix = "s" .. thread_id .. "-"
end

function request()
  counter = counter + 1
  local member = "m" .. (counter % members)
  local body = '{"points":1,"biz_no":"' .. prefix .. counter .. '"}'
  return wrk.format("POST", "/v1/members/" .. member .. "/spend", {
    ["Authorization"] = "Bearer " .. key,
    ["Content-Type"] = "application/json",
  }, body)
end
