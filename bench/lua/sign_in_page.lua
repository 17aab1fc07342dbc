-- POST /sign-in (the sign-in page's form) with the right password, as a
-- browser sends it: the form cookie and its CSRF token, read once from
-- GET /sign-in by bench/sign_in_page.sh. A success is a 303 to /account;
-- a refused form would be a 4xx, which wrk counts as a status error.
dofile(os.getenv("BENCH_LUA") .. "/common.lua")

local email = env("BENCH_EMAIL")
local password = env("BENCH_PASSWORD")
local headers = {
  ["Content-Type"] = "application/x-www-form-urlencoded",
  ["Accept"] = "text/html",
  ["Cookie"] = env("FORM_COOKIE"),
}
local body = "csrf=" .. env("CSRF") .. "&email=" .. email:gsub("@", "%%40") ..
  "&password=" .. password

function request()
  return wrk.format("POST", "/sign-in", headers, body)
end

