-- Mixed traffic for the soak run: reads, searches, logins and sign-ups.
-- Every request is expected to succeed (2xx); anything else is an error.
-- $TOKEN: an access token; $LOGIN_EMAIL/$LOGIN_PASSWORD: a verified user.
local token = os.getenv("TOKEN")
local login_body = "username=" .. os.getenv("LOGIN_EMAIL") .. "&password=" .. os.getenv("LOGIN_PASSWORD")
local counter = 0
local thread_tag = 0

function setup(thread)
  thread_tag = thread_tag + 1
  thread:set("tag", thread_tag)
end

function request()
  counter = counter + 1
  local pick = counter % 20
  if pick < 10 then
    return wrk.format("GET", "/me", { ["Authorization"] = "Bearer " .. token })
  elseif pick < 15 then
    return wrk.format("GET", "/users?limit=20&q=soak&sort=-created_at", { ["Authorization"] = "Bearer " .. token })
  elseif pick < 17 then
    return wrk.format("GET", "/health")
  elseif pick < 19 then
    return wrk.format("POST", "/login", { ["Content-Type"] = "application/x-www-form-urlencoded" }, login_body)
  else
    local email = string.format("soak-%d-%d-%d@example.com", tag or 0, counter, math.random(1, 1e9))
    return wrk.format("POST", "/register", { ["Content-Type"] = "application/json" },
      '{"email":"' .. email .. '","password":"soak-pass-phrase-long"}')
  end
end

local errors = 0
function response(status, headers, body)
  if status >= 300 then
    errors = errors + 1
    if errors <= 5 then
      io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
    end
  end
end
