--- The JSON writer of util/json.lua (`json.encode` calls it): a table is
-- an array when it is marked with `json.array` or is a non-empty sequence;
-- keys are written sorted; `nil, message` instead of raising for what JSON
-- cannot carry. Loaded at the first encode, not by a process that only
-- decodes (a warm `enphase status`).
local compat = require("enphase.util.compat")
local json = require("enphase.util.json")

local M = {}

local ESCAPES = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}

local function escape(c)
  return ESCAPES[c] or ("\\u%04x"):format(c:byte())
end

local function string_literal(s)
  return '"' .. s:gsub('[%c"\\]', escape) .. '"'
end

local function number_literal(n)
  if compat.isinteger(n) then
    return ("%d"):format(n)
  elseif n ~= n or n == math.huge or n == -math.huge then
    return nil, "cannot encode a number that is not finite (NaN or Infinity)"
  end
  local i = compat.tointeger(n)
  if i then
    return ("%d"):format(i)
  end
  local s = ("%.14g"):format(n)
  if tonumber(s) ~= n then
    s = ("%.17g"):format(n)
  end
  return s
end

-- The length of `t` when it is written as an array, else nil.
local function array_length(t)
  local n = #t
  if json.is_array(t) then
    return n
  end
  if n == 0 then
    return nil
  end
  local count = 0
  for _ in pairs(t) do
    count = count + 1
    if count > n then
      return nil
    end
  end
  return n
end

local encode_value

local function encode_table(t, out, depth)
  if depth > json.MAX_DEPTH then
    return nil, "cannot encode tables nested more than " .. json.MAX_DEPTH .. " deep (or a cycle)"
  end
  local n = array_length(t)
  if n then
    out[#out + 1] = "["
    for i = 1, n do
      if i > 1 then
        out[#out + 1] = ","
      end
      local ok, err = encode_value(t[i], out, depth + 1)
      if not ok then
        return nil, err
      end
    end
    out[#out + 1] = "]"
    return true
  end
  local keys = {}
  for k in pairs(t) do
    local kt = type(k)
    if kt == "number" then
      local text, err = number_literal(k)
      if not text then
        return nil, err
      end
      keys[#keys + 1] = { text, k }
    elseif kt == "string" then
      keys[#keys + 1] = { k, k }
    else
      return nil, "cannot encode a table key of type " .. kt
    end
  end
  table.sort(keys, function(a, b)
    return a[1] < b[1]
  end)
  out[#out + 1] = "{"
  for i, key in ipairs(keys) do
    out[#out + 1] = (i > 1 and "," or "") .. string_literal(key[1]) .. ":"
    local ok, err = encode_value(t[key[2]], out, depth + 1)
    if not ok then
      return nil, err
    end
  end
  out[#out + 1] = "}"
  return true
end

function encode_value(v, out, depth)
  local t = type(v)
  if t == "string" then
    out[#out + 1] = string_literal(v)
  elseif t == "number" then
    local text, err = number_literal(v)
    if not text then
      return nil, err
    end
    out[#out + 1] = text
  elseif t == "boolean" then
    out[#out + 1] = v and "true" or "false"
  elseif v == nil or v == json.null then
    out[#out + 1] = "null"
  elseif t == "table" then
    return encode_table(v, out, depth)
  else
    return nil, "cannot encode a value of type " .. t
  end
  return true
end

--- Encodes `value`; returns the text, or nil and a message (a value JSON
-- cannot carry: NaN, Infinity, a function, a cycle). Never raises.
function M.encode(value)
  local out = {}
  local ok, err = encode_value(value, out, 0)
  if not ok then
    return nil, err
  end
  return table.concat(out)
end

return M
