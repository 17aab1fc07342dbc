-- GET $BENCH_PATH, with `Authorization: Bearer $BENCH_TOKEN` when set.
-- A static request: wrk sends it without running Lua per request.
dofile(os.getenv("BENCH_LUA") .. "/common.lua")

wrk.method = "GET"
wrk.path = env("BENCH_PATH")
local token = os.getenv("BENCH_TOKEN")
if token ~= nil and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
