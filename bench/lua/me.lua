-- GET /me, cycling through the access tokens of $TOKENS_FILE (one per line,
-- each a different user). With $PROBE_DELAY_MS each connection waits that
-- long between requests: a light, steady probe instead of a flood (the
-- latency wrk records starts when the request is written, after the delay).
dofile(os.getenv("BENCH_LUA") .. "/common.lua")

local requests = {}
local next_index = 1
local probe_delay = tonumber(os.getenv("PROBE_DELAY_MS") or "")

function init(args)
  for _, token in ipairs(read_lines(env("TOKENS_FILE"))) do
    requests[#requests + 1] =
      wrk.format("GET", "/me", { ["Authorization"] = "Bearer " .. token })
  end
  next_index = (thread_id or 1) % #requests + 1
end

function request()
  local r = requests[next_index]
  next_index = next_index % #requests + 1
  return r
end

if probe_delay ~= nil then
  function delay()
    return probe_delay
  end
end
