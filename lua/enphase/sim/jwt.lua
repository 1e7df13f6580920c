-- JWTs in the real format: base64url(header).base64url(payload).base64url(sig),
-- no padding. The signature is random bytes: the simulator never verifies a
-- signature, it looks tokens up in its own table (state.lua).
local json = require("enphase.sim.json")

local M = {}

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

--- base64url without padding.
function M.b64url(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local chars = 4
    if not b then
      chars = 2
    elseif not c then
      chars = 3
    end
    for j = 1, chars do
      local idx = math.floor(n / 2 ^ (18 - 6 * (j - 1))) % 64
      out[#out + 1] = alphabet:sub(idx + 1, idx + 1)
    end
  end
  return table.concat(out)
end

local rev = {}
for i = 1, #alphabet do
  rev[alphabet:sub(i, i)] = i - 1
end
rev["+"], rev["/"] = 62, 63

--- Decode base64url (or base64), padding optional. Returns nil on bad input.
function M.b64url_decode(s)
  s = s:gsub("=+$", "")
  local out = {}
  for i = 1, #s, 4 do
    local n, count = 0, 0
    for j = i, math.min(i + 3, #s) do
      local v = rev[s:sub(j, j)]
      if not v then
        return nil
      end
      n = n * 64 + v
      count = count + 1
    end
    if count == 1 then
      return nil
    end
    n = n * 64 ^ (4 - count)
    out[#out + 1] = string.char(math.floor(n / 65536) % 256)
    if count >= 3 then
      out[#out + 1] = string.char(math.floor(n / 256) % 256)
    end
    if count == 4 then
      out[#out + 1] = string.char(n % 256)
    end
  end
  return table.concat(out)
end

function M.random_bytes(n)
  local t = {}
  for i = 1, n do
    t[i] = string.char(math.random(0, 255))
  end
  return table.concat(t)
end

function M.random_hex(nbytes)
  return (M.random_bytes(nbytes):gsub(".", function(c)
    return string.format("%02x", c:byte())
  end))
end

--- A random UUID (version 4) as a string.
function M.uuid()
  local h = M.random_hex(16)
  local variant = string.format("%x", 8 + math.random(0, 3))
  return h:sub(1, 8) .. "-" .. h:sub(9, 12) .. "-4" .. h:sub(14, 16) .. "-"
    .. variant .. h:sub(18, 20) .. "-" .. h:sub(21, 32)
end

--- Build a token for `payload` (a table).
function M.build(payload)
  local header = '{"alg":"HS256","typ":"JWT"}'
  return M.b64url(header) .. "." .. M.b64url(json.encode(payload)) .. "."
    .. M.b64url(M.random_bytes(32))
end

--- Decode the payload of a token (no verification). Returns table or nil.
function M.payload(token)
  local part = type(token) == "string" and token:match("^[^.]+%.([^.]+)%.")
  if not part then
    return nil
  end
  local raw = M.b64url_decode(part)
  return raw and json.decode(raw)
end

return M
