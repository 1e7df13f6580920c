-- Time series for the simulated house, read from CSV: household load and PV
-- (mean watts per interval) and the tariff (import and export price per
-- kWh). The first column is the local wall-clock time the interval starts
-- ("YYYY-MM-DDTHH:MM" or "YYYY-MM-DD HH:MM", in the site's time zone); the
-- rows are evenly spaced (5 to 60 minutes). A series repeats itself: the
-- value at any moment is the row at the same position in the cycle that
-- starts at the first row, counted in local wall-clock time, so a week of
-- data serves any week and the same hour of the day stays the same hour.
local compat = require("enphase.util.compat")
local tz = require("enphase.util.tz")

local M = {}

-- The columns each kind of series has after `time`.
M.KINDS = {
  load = { "watts" },
  solar = { "watts" },
  tariff = { "import", "export" },
}

-- The largest value a house's series may hold: 1 MW of load or PV, a
-- price of 10,000 per kWh in any currency (either sign).
M.LIMITS = { watts = 1e6, import = 1e4, export = 1e4 }

local Series = {}
Series.__index = Series

local function wall_seconds(text)
  local y, mo, d, h, mi = text:match("^%s*(%d%d%d%d)%-(%d%d)%-(%d%d)[T ](%d%d):(%d%d)%s*$")
  if not y then
    return nil
  end
  y, mo, d, h, mi = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi)
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 then
    return nil
  end
  return tz.timegm(y, mo, d, h, mi, 0)
end

local function split(line)
  local out = {}
  for field in (line .. ","):gmatch("([^,]*),") do
    out[#out + 1] = field:match("^%s*(.-)%s*$")
  end
  return out
end

--- Parses CSV `text` of `kind` ("load", "solar" or "tariff"); `name` names
-- the source in messages. Returns a series, or nil and a message naming
-- the line.
function M.parse(text, kind, name)
  local columns = M.KINDS[kind]
  if not columns then
    return nil, ("unknown series kind %q"):format(tostring(kind))
  end
  name = name or kind
  if type(text) ~= "string" then
    return nil, name .. ": no CSV text"
  end
  local rows, times = {}, {}
  local header_seen = false
  local lineno = 0
  for line in (text:gsub("\r", "") .. "\n"):gmatch("([^\n]*)\n") do
    lineno = lineno + 1
    if line:match("^%s*$") or line:match("^%s*#") then -- luacheck: ignore 542
    elseif not header_seen then
      local head = split(line:lower())
      if head[1] ~= "time" or #head ~= #columns + 1 then
        return nil, ("%s:%d: the header must be time,%s"):format(name, lineno,
          table.concat(columns, ","))
      end
      for i, c in ipairs(columns) do
        if head[i + 1] ~= c then
          return nil, ("%s:%d: the header must be time,%s"):format(name, lineno,
            table.concat(columns, ","))
        end
      end
      header_seen = true
    else
      local f = split(line)
      if #f ~= #columns + 1 then
        return nil, ("%s:%d: %d fields expected (time,%s)"):format(name, lineno, #columns + 1,
          table.concat(columns, ","))
      end
      local t = wall_seconds(f[1])
      if not t then
        return nil, ("%s:%d: time must be YYYY-MM-DDTHH:MM (got %q)"):format(name, lineno, f[1])
      end
      local row = {}
      for i, c in ipairs(columns) do
        local v = tonumber(f[i + 1])
        if not v or v ~= v or v == math.huge or v == -math.huge then
          return nil, ("%s:%d: %s must be a number (got %q)"):format(name, lineno, c, f[i + 1])
        end
        if kind ~= "tariff" and v < 0 then
          return nil, ("%s:%d: %s must not be negative (got %s)"):format(name, lineno, c, f[i + 1])
        end
        if math.abs(v) > M.LIMITS[c] then
          return nil, ("%s:%d: %s %s is beyond a house (at most %g in size)"):format(name, lineno,
            c, f[i + 1], M.LIMITS[c])
        end
        row[c] = v
      end
      local n = #rows + 1
      if n > 1 then
        local step = t - times[n - 1]
        local expected = n > 2 and (times[2] - times[1]) or step
        if step ~= expected or step < 300 or step > 3600 then
          return nil, ("%s:%d: rows must be evenly spaced 5 to 60 minutes apart"):format(name,
            lineno)
        end
      end
      rows[n], times[n] = row, t
    end
  end
  if #rows < 2 then
    return nil, name .. ": at least two rows are needed"
  end
  return setmetatable({
    kind = kind,
    name = name,
    rows = rows,
    start_wall = times[1],
    step = times[2] - times[1],
    first_time = times[1],
  }, Series)
end

--- Reads and parses the CSV file at `path`.
function M.load(path, kind)
  local f, err = io.open(path, "rb")
  if not f then
    return nil, ("cannot read %s: %s"):format(path, tostring(err))
  end
  local text = f:read("*a")
  f:close()
  return M.parse(text, kind, path)
end

--- The path of a bundled sample ("load", "solar" or "tariff").
function M.bundled_path(kind)
  local path = package.path:gsub("%.lua", ".csv")
  return compat.searchpath("enphase.sim.data." .. kind, path)
end

local cache = {}

--- The bundled sample week of `kind`, parsed once per process.
function M.bundled(kind)
  if not cache[kind] then
    local path, err = M.bundled_path(kind)
    if not path then
      return nil, "the bundled " .. kind .. " sample is missing: " .. tostring(err)
    end
    local s, perr = M.load(path, kind)
    if not s then
      return nil, perr
    end
    cache[kind] = s
  end
  return cache[kind]
end

--- The row in force at local wall-clock seconds `wall`, and its index.
function Series:at_wall(wall)
  local n = #self.rows
  local i = math.floor((wall - self.start_wall) / self.step) % n + 1
  return self.rows[i], i
end

--- The row in force at epoch `t` in zone `zone`.
function Series:at(zone, t)
  return self:at_wall(t + (tz.offset(zone, t) or 0))
end

--- The length of one cycle, in seconds.
function Series:period()
  return #self.rows * self.step
end

--- Extremes of column `c` over the cycle: min, max.
function Series:range(c)
  local lo, hi = math.huge, -math.huge
  for _, r in ipairs(self.rows) do
    lo, hi = math.min(lo, r[c]), math.max(hi, r[c])
  end
  return lo, hi
end

return M
