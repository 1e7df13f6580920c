-- JSON for the simulator.
-- Decoding is lua-cjson's (cjson.safe); Debian's cjson 2.1.0 turns every JSON
-- number into a float under Lua 5.4, so decoded integral numbers are turned
-- back into integers here, once, and the rest of the simulator never sees
-- 4980363.0. Encoding is our own: it writes integers with %d, keeps "/" as is,
-- sorts object keys (stable output), and knows empty arrays (json.array{}),
-- which cjson 2.1.0 would write as {}.
local cjson = require("cjson.safe")

local M = {}

M.null = cjson.null

local array_mt = { __name = "enphase.sim.json.array" }

--- Mark a table as a JSON array (so an empty one is written as []).
function M.array(t)
  return setmetatable(t or {}, array_mt)
end

local function normalise(v)
  local tv = type(v)
  if tv == "number" then
    return math.tointeger(v) or v
  elseif tv == "table" then
    for k, x in pairs(v) do
      v[k] = normalise(x)
    end
  end
  return v
end

--- Decode a JSON text. Returns value, or nil and a message.
function M.decode(text)
  if type(text) ~= "string" then
    return nil, "not a string"
  end
  local v, err = cjson.decode(text)
  if v == nil and err then
    return nil, err
  end
  return normalise(v)
end

local escapes = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}

local function quote(s)
  return '"' .. (s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end)) .. '"'
end

local function is_sequence(t)
  local n = #t
  if n == 0 then
    return false
  end
  local count = 0
  for _ in pairs(t) do
    count = count + 1
  end
  return count == n
end

local encode_value

local function encode_table(t, out, depth)
  if depth > 64 then
    error("json: table nested too deeply (cycle?)", 0)
  end
  if getmetatable(t) == array_mt or is_sequence(t) then
    out[#out + 1] = "["
    for i = 1, #t do
      if i > 1 then
        out[#out + 1] = ","
      end
      encode_value(t[i], out, depth + 1)
    end
    out[#out + 1] = "]"
    return
  end
  local keys = {}
  for k in pairs(t) do
    keys[#keys + 1] = tostring(k)
  end
  table.sort(keys)
  out[#out + 1] = "{"
  for i, k in ipairs(keys) do
    if i > 1 then
      out[#out + 1] = ","
    end
    out[#out + 1] = quote(k)
    out[#out + 1] = ":"
    local v = t[k]
    if v == nil then
      v = t[math.tointeger(tonumber(k)) or k]
    end
    encode_value(v, out, depth + 1)
  end
  out[#out + 1] = "}"
end

function encode_value(v, out, depth)
  local tv = type(v)
  if v == nil or v == M.null then
    out[#out + 1] = "null"
  elseif tv == "boolean" then
    out[#out + 1] = v and "true" or "false"
  elseif tv == "number" then
    if math.type(v) == "integer" then
      out[#out + 1] = string.format("%d", v)
    elseif v ~= v or v == math.huge or v == -math.huge then
      out[#out + 1] = "null"
    elseif v == math.floor(v) and math.abs(v) < 2 ^ 53 then
      out[#out + 1] = string.format("%d", math.tointeger(v))
    else
      out[#out + 1] = string.format("%.14g", v)
    end
  elseif tv == "string" then
    out[#out + 1] = quote(v)
  elseif tv == "table" then
    encode_table(v, out, depth)
  else
    error("json: cannot encode a " .. tv, 0)
  end
end

--- Encode a Lua value as JSON text.
function M.encode(v)
  local out = {}
  encode_value(v, out, 0)
  return table.concat(out)
end

return M
