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
-- raising for what JSON cannot carry (json_encode.lua).
local compat = require("enphase.util.compat")
local cjson = require("cjson.safe").new()

local MAX_DEPTH = 128
cjson.decode_invalid_numbers(false) -- NaN, Infinity, hexadecimal
cjson.decode_max_depth(MAX_DEPTH)

local M = { null = cjson.null }

--- The deepest nesting decoded or encoded.
M.MAX_DEPTH = MAX_DEPTH

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

--- Encodes `value`; returns the text, or nil and a message (a value JSON
-- cannot carry: NaN, Infinity, a function, a cycle). Never raises.
-- The writer is json_encode.lua, loaded at the first encode (a warm
-- `enphase status` only decodes).
function M.encode(value)
  return require("enphase.util.json_encode").encode(value)
end

return M
