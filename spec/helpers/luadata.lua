-- Plain data (nil, booleans, numbers, strings, tables of them) to Lua source
-- and back, so that tables cross between Lua processes of different versions
-- (a lua5.4 spec and a lua5.3 dzVents run) with integers kept integers.
local M = {}

local function write(v, out, depth)
  local t = type(v)
  if t == "string" then
    out[#out + 1] = ("%q"):format(v)
  elseif t == "number" then
    if math.type(v) == "integer" then
      out[#out + 1] = ("%d"):format(v)
    elseif v ~= v or v == math.huge or v == -math.huge then
      error("luadata: a number that is not finite")
    else
      out[#out + 1] = ("%.17g"):format(v)
    end
  elseif t == "boolean" or t == "nil" then
    out[#out + 1] = tostring(v)
  elseif t == "table" then
    assert(depth < 64, "luadata: nested too deep")
    out[#out + 1] = "{"
    local keys = {}
    for k in pairs(v) do
      keys[#keys + 1] = k
    end
    table.sort(keys, function(a, b)
      if type(a) == type(b) and (type(a) == "number" or type(a) == "string") then
        return a < b
      end
      return type(a) < type(b)
    end)
    for _, k in ipairs(keys) do
      out[#out + 1] = "["
      write(k, out, depth + 1)
      out[#out + 1] = "]="
      write(v[k], out, depth + 1)
      out[#out + 1] = ","
    end
    out[#out + 1] = "}"
  else
    error("luadata: cannot write a " .. t)
  end
end

--- Lua source `return <value>`.
function M.encode(value)
  local out = { "return " }
  write(value, out, 0)
  return table.concat(out)
end

--- The value of source made by encode (run with an empty environment).
function M.decode(text)
  local chunk, err = load(text, "=luadata", "t", {})
  if not chunk then
    return nil, err
  end
  return chunk()
end

return M
