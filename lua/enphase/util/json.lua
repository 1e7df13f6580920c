--- JSON in and out: the one place that reads and writes JSON.
--
-- Decoding goes through lua-cjson (an instance of our own, configured here),
-- then three repairs for what Debian's lua-cjson 2.1.0 gets wrong or lets
-- through:
-- * every number comes back as a float under Lua 5.3/5.4, so an id 4980363
--   would print as "4980363.0": integral floats become integers;
-- * NaN, Infinity and numbers out of range (1e400) are refused: a document
--   holding one is not JSON we can use, and such a value would raise later
--   (when printed or cached);
-- * an empty array and an empty object both come back as `{}`: empty arrays
--   are marked (`M.array`) so that they are written back as `[]`.
--
-- Encoding is ours (lua-cjson 2.1.0 has no array_mt, and raises on NaN):
-- a table is an array when it is marked with `M.array` or is a non-empty
-- sequence; keys are written sorted; it returns `nil, message` instead of
-- raising for what JSON cannot carry.
local compat = require("enphase.util.compat")
local cjson = require("cjson.safe").new()

local MAX_DEPTH = 128
cjson.decode_invalid_numbers(false) -- NaN, Infinity, hexadecimal
cjson.decode_max_depth(MAX_DEPTH)

local M = { null = cjson.null }

local ARRAY = { __name = "enphase.json.array" }

--- Marks `t` (default: a new table) as a JSON array, so that it is written
-- as `[]` even when empty. Returns `t`.
function M.array(t)
  return setmetatable(t or {}, ARRAY)
end

--- True when `t` is marked as an array.
function M.is_array(t)
  return getmetatable(t) == ARRAY
end

-- ------------------------------------------------------------ decode

-- An empty array in the text becomes this one-string array before cjson
-- reads it, and a marked empty table after.
local EMPTY_MARK_TEXT = '["\\u0000[]"]'
local EMPTY_MARK = "\0[]"

-- Rewrites every `[ ]` outside strings as EMPTY_MARK_TEXT.
local function mark_empty_arrays(text)
  if not text:find("%[[ \t\r\n]*%]") then
    return text
  end
  local out, copied, i = {}, 1, 1
  while true do
    local s = text:find('["%[]', i)
    if not s then
      break
    end
    if text:byte(s) == 34 then -- a string: skip to its closing quote
      local j = s + 1
      while true do
        local q = text:find('["\\]', j)
        if not q then
          return text -- unterminated: cjson says so
        end
        if text:byte(q) == 92 then
          j = q + 2
        else
          i = q + 1
          break
        end
      end
    else
      local close = text:match("^%[[ \t\r\n]*()%]", s)
      if close then
        out[#out + 1] = text:sub(copied, s - 1)
        out[#out + 1] = EMPTY_MARK_TEXT
        copied = close + 1
        i = close + 1
      else
        i = s + 1
      end
    end
  end
  out[#out + 1] = text:sub(copied)
  return table.concat(out)
end

-- Integers back, empty arrays marked; false when a number is not finite.
local function repair(value)
  if type(value) == "number" then
    if value ~= value or value == math.huge or value == -math.huge then
      return value, false
    end
    return compat.tointeger(value) or value, true
  elseif type(value) == "table" then
    if value[1] == EMPTY_MARK and value[2] == nil then
      value[1] = nil
      return M.array(value), true
    end
    for k, v in pairs(value) do
      local fixed, ok = repair(v)
      if not ok then
        return value, false
      end
      value[k] = fixed
    end
  end
  return value, true
end

--- Decodes `text`; returns the value, or nil and a message. Never raises.
function M.decode(text)
  if type(text) ~= "string" or text == "" then
    return nil, "empty body"
  end
  local value, err = cjson.decode(mark_empty_arrays(text))
  if value == nil then
    return nil, err
  end
  local ok
  value, ok = repair(value)
  if not ok then
    return nil, "a number that JSON cannot carry (NaN, Infinity or out of range)"
  end
  return value
end

-- ------------------------------------------------------------ encode

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
  if getmetatable(t) == ARRAY then
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
  if depth > MAX_DEPTH then
    return nil, "cannot encode tables nested more than " .. MAX_DEPTH .. " deep (or a cycle)"
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
  elseif v == nil or v == M.null then
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
