--- What the CLI prints: aligned tables for people, JSON for scripts.
local json = require("enphase.util.json")

local M = {}

--- One JSON line.
function M.json(value)
  return json.encode(value)
end

--- The seed script's exact line, keys in its order:
-- {"status":..,"token":..,"xsrf":..,"exp":..,"user_id":..,"battery_id":..}
function M.token_line(t)
  return ('{"status":%s,"token":%s,"xsrf":%s,"exp":%d,"user_id":%d,"battery_id":%d}'):format(
    json.encode(t.status), json.encode(t.token or ""), json.encode(t.xsrf or ""), t.exp or 0,
    t.user_id or 0, t.battery_id or 0)
end

--- The seed's schedule-sensor line, keys in the order its jq filter writes
-- them: {"cfg":[ids],"dtg":[ids],"rbd":[ids],"other":[]}. `only` (a mode)
-- leaves the other kinds' arrays empty.
function M.schedule_ids(all, only)
  local parts = {}
  for _, k in ipairs({ "cfg", "dtg", "rbd" }) do
    local ids = json.array()
    if not only or only == k then
      for _, s in ipairs(all[k]) do
        ids[#ids + 1] = s.id
      end
    end
    parts[#parts + 1] = json.encode(k) .. ":" .. json.encode(ids)
  end
  return "{" .. table.concat(parts, ",") .. ',"other":[]}'
end

local function cell(v)
  if v == nil or v == json.null or (type(v) == "number" and (v ~= v or v == math.huge
      or v == -math.huge)) then
    return "-"
  elseif type(v) == "table" then
    local parts = {}
    for i = 1, #v do
      parts[i] = tostring(v[i])
    end
    return table.concat(parts, ",")
  elseif type(v) == "boolean" then
    return v and "on" or "off"
  end
  return tostring(v)
end

--- An aligned table: `columns` is a list of {key, heading}.
function M.table(rows, columns)
  local widths, lines = {}, {}
  for i, c in ipairs(columns) do
    widths[i] = #c[2]
    for _, r in ipairs(rows) do
      widths[i] = math.max(widths[i], #cell(r[c[1]]))
    end
  end
  local function line(values)
    local out = {}
    for i, v in ipairs(values) do
      out[i] = i < #values and v .. string.rep(" ", widths[i] - #v) or v
    end
    return table.concat(out, "  ")
  end
  local head = {}
  for i, c in ipairs(columns) do
    head[i] = c[2]
  end
  lines[1] = line(head)
  for _, r in ipairs(rows) do
    local values = {}
    for i, c in ipairs(columns) do
      values[i] = cell(r[c[1]])
    end
    lines[#lines + 1] = line(values)
  end
  return table.concat(lines, "\n")
end

--- "key: value" lines, in the order of `keys`.
function M.fields(t, keys)
  local lines = {}
  for _, k in ipairs(keys) do
    lines[#lines + 1] = ("%-20s %s"):format(k[2] .. ":", cell(t[k[1]]))
  end
  return table.concat(lines, "\n")
end

return M
