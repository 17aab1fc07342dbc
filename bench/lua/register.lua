-- POST /register with a new email and nickname every time
-- (reg-<run>-<thread>-<n>@bench.example): Argon2id hash, insert, outbox row.
dofile(os.getenv("BENCH_LUA") .. "/common.lua")

local run = env("RUN_ID")
local password = env("BENCH_PASSWORD")
local headers = { ["Content-Type"] = "application/json" }
local counter = 0

function request()
  counter = counter + 1
  local tag = run .. "-" .. (thread_id or 0) .. "-" .. counter
  local body = '{"email":"reg-' .. tag .. '@bench.example","password":"' .. password ..
    '","nickname":"r' .. tag .. '","first_name":"Bench","last_name":"Register"}'
  return wrk.format("POST", "/register", headers, body)
end
