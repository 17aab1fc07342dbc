-- PUT /me/picture: a multipart upload (field `file`) of $PICTURE_FILE,
-- cycling through the users of $TOKENS_FILE.
dofile(os.getenv("BENCH_LUA") .. "/common.lua")

local boundary = "----bench-boundary-7MA4YWxkTrZu0gW"
local body
local tokens = {}
local next_index = 1

function init(args)
  local file = assert(io.open(env("PICTURE_FILE"), "rb"))
  local bytes = file:read("*a")
  file:close()
  body = "--" .. boundary .. "\r\n" ..
    'Content-Disposition: form-data; name="file"; filename="photo.jpg"\r\n' ..
    "Content-Type: image/jpeg\r\n\r\n" .. bytes .. "\r\n--" .. boundary .. "--\r\n"
  tokens = read_lines(env("TOKENS_FILE"))
  next_index = (thread_id or 1) % #tokens + 1
end

function request()
  local token = tokens[next_index]
  next_index = next_index % #tokens + 1
  return wrk.format("PUT", "/me/picture", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "multipart/form-data; boundary=" .. boundary,
  }, body)
end
