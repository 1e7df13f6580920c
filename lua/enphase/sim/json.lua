--- JSON for the simulator: the library's one codec (util/json.lua: integers
-- kept as integers, empty arrays written as `[]`, NaN and Infinity refused,
-- keys sorted), with the contract the simulator's handlers want: `encode`
-- raises on what JSON cannot carry, which is a bug of the simulator, not an
-- answer to send.
local json = require("enphase.util.json")

local M = {
  null = json.null,
  array = json.array, -- marks a table as an array: an empty one is written as []
  is_array = json.is_array,
  decode = json.decode, -- value, or nil and a message
}

--- Encodes a Lua value as JSON text; raises on a value JSON cannot carry.
function M.encode(v)
  local text, err = json.encode(v)
  if not text then
    error("json: " .. err, 0)
  end
  return text
end

return M
