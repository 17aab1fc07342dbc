-- POST /login (OAuth2 password grant) as a random seeded user with the
-- right password. Seeded user n is user<n>@bench.example; users with
-- n % 10 == 3 are unverified and n % 97 == 0 locked (see sql/seed_pg.sql),
-- so they are skipped.
dofile(os.getenv("BENCH_LUA") .. "/common.lua")

local users = tonumber(env("LOGIN_USERS"))
local password = env("BENCH_PASSWORD")
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

function init(args)
  math.randomseed(os.time() * 1000 + (thread_id or 0))
end

local function pick()
  while true do
    local n = math.random(1, users)
    if n % 10 ~= 3 and n % 97 ~= 0 then return n end
  end
end

function request()
  local body = "grant_type=password&username=user" .. pick() ..
    "%40bench.example&password=" .. password
  return wrk.format("POST", "/login", headers, body)
end
