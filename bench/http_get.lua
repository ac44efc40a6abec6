-- wrk script: GET with the bench key (member or any authenticated path).
local key = os.getenv("JIFEN_KEY") or ""
function request()
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. key })
end
