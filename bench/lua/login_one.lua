-- POST /login (OAuth2 password grant) as one user with the right password:
-- the API twin of sign_in_page.lua, for bench/sign_in_page.sh.
dofile(os.getenv("BENCH_LUA") .. "/common.lua")

local email = env("BENCH_EMAIL")
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
local body = "grant_type=password&username=" .. email:gsub("@", "%%40") ..
  "&password=" .. env("BENCH_PASSWORD")

function request()
  return wrk.format("POST", "/login", headers, body)
end
