-- wrk script: the write benchmarks, by JIFEN_BENCH_OP (default earn):
--   earn, spend  POST /v1/members/{id}/earn or /spend of 1 point with a
--                unique biz_no per request;
--   event        POST /v1/events: an order.paid with a unique event_id and
--                an amount_fen that varies (1 to 500 yuan), so the demo
--                tenant's rules (1 point per yuan, first order, first of the
--                month, member day, weekday lunch) and its weekly task are
--                evaluated as for real orders.
-- Members are spread over the pool the bench seeded (JIFEN_BENCH_MEMBERS).
-- Each wrk thread gets its own prefix so keys never repeat across threads
-- or operations.  Several wrk processes started together draw the same
-- "random" thread ids (Lua's generator is not seeded) in the same second:
-- each must then be given its own JIFEN_BENCH_TAG, or they send the same
-- requests (bench/pg_bench.sh runs one wrk per server), and half of them
-- are answered as replays.
local counter = 0
local prefix = ""
local key = os.getenv("JIFEN_KEY") or ""
local members = tonumber(os.getenv("JIFEN_BENCH_MEMBERS") or "1000")
local op = os.getenv("JIFEN_BENCH_OP") or "earn"
local tag = os.getenv("JIFEN_BENCH_TAG") or ""
local headers = {
  ["Authorization"] = "Bearer " .. key,
  ["Content-Type"] = "application/json",
}

function setup(thread)
  thread:set("thread_id", tostring(math.random(1, 1e9)) .. "-" .. tostring(os.time()))
end

function init(args)
  prefix = op .. "-" .. tag .. thread_id .. "-"
end

function request()
  counter = counter + 1
  local member = "m" .. (counter % members)
  if op == "event" then
    local amount = 100 + (counter * 7919) % 50000
    local body = '{"type":"order.paid","member_id":"' .. member .. '","event_id":"' .. prefix .. counter ..
                 '","amount_fen":' .. amount .. '}'
    return wrk.format("POST", "/v1/events", headers, body)
  end
  local body = '{"points":1,"biz_no":"' .. prefix .. counter .. '"}'
  return wrk.format("POST", "/v1/members/" .. member .. "/" .. op, headers, body)
end
