--- JSON through lua-cjson, with numbers made Lua-friendly.
-- Debian's lua-cjson 2.1.0 decodes every number as a float under Lua 5.4, so
-- an id 4980363 would print as "4980363.0". `decode` turns every integral
-- float back into an integer.
local cjson = require("cjson.safe")

local M = { null = cjson.null }

local function integers(value, depth)
  if depth > 64 then
    return value
  end
  if type(value) == "number" then
    return math.tointeger(value) or value
  elseif type(value) == "table" then
    for k, v in pairs(value) do
      value[k] = integers(v, depth + 1)
    end
  end
  return value
end

--- Decodes `text`; returns the value, or nil and a message.
function M.decode(text)
  if type(text) ~= "string" or text == "" then
    return nil, "empty body"
  end
  local value, err = cjson.decode(text)
  if value == nil then
    return nil, err
  end
  return integers(value, 0)
end

--- Encodes `value` (arrays of integers stay integers).
function M.encode(value)
  return cjson.encode(value)
end

--- A table that encodes as a JSON array even when empty.
function M.array(t)
  return setmetatable(t or {}, cjson.array_mt)
end

return M
