-- wrk script: POST .../earn or .../spend (JIFEN_BENCH_OP, default earn) of
-- 1 point with a unique biz_no per request, spread over the members the
-- bench seeded.  Each wrk thread gets its own prefix so biz_no never repeats
-- across threads or operations.
local counter = 0
local prefix = ""
local key = os.getenv("JIFEN_KEY") or ""
local members = tonumber(os.getenv("JIFEN_BENCH_MEMBERS") or "1000")
local op = os.getenv("JIFEN_BENCH_OP") or "earn"

function setup(thread)
  thread:set("thread_id", tostring(math.random(1, 1e9)) .. "-" .. tostring(os.time()))
end

function init(args)
  prefix = op .. "-" .. thread_id .. "-"
end

function request()
  counter = counter + 1
  local member = "m" .. (counter % members)
  local body = '{"points":1,"biz_no":"' .. prefix .. counter .. '"}'
  return wrk.format("POST", "/v1/members/" .. member .. "/" .. op, {
    ["Authorization"] = "Bearer " .. key,
    ["Content-Type"] = "application/json",
  }, body)
end
