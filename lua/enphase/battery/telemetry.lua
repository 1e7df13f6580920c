--- Battery state and today's energy: the reads a policy needs.
--
-- Both answers come from Enlighten's web API, whose values are loosely
-- typed: percentages are strings ("48%"), any value may be "N/A", null or
-- missing. Every field is parsed on its own: a value that is not a number
-- becomes nil, never an error. A number beyond any physical battery or
-- house (M.LIMITS, the one place that says so) refuses the whole answer as
-- `protocol`, naming the field; so does an answer that is not the JSON
-- object expected.
local compat = require("enphase.util.compat")
local api = require("enphase.transport.api")
local retry = require("enphase.transport.retry")
local errors = require("enphase.errors")
local json = require("enphase.util.json")

local M = {}

local function finite(n)
  if type(n) ~= "number" or n ~= n or n == math.huge or n == -math.huge then
    return nil
  end
  return n
end

-- A number from a number or a numeric string ("48%", " 4.75 "); nil for
-- anything else ("N/A", null, NaN, tables...).
local function number(v)
  if type(v) == "number" then
    return finite(v)
  elseif type(v) == "string" and #v <= 64 then
    local s = v:match("^%s*([-+]?[%d.]+[eE]?[-+]?%d*)%s*%%?%s*$")
    return s and finite(tonumber(s)) or nil
  end
  return nil
end

local function percent(v)
  local n = number(v)
  if n and n >= 0 and n <= 100 then
    return n
  end
  return nil
end

local function text(v)
  if type(v) == "string" and #v <= 256 then
    return v
  elseif finite(v) then
    local i = compat.tointeger(v)
    return i and ("%d"):format(i) or tostring(v)
  end
  return nil
end

local LED = { [12] = "charging", [13] = "discharging", [14] = "idle", [15] = "idle", [16] = "idle",
              [17] = "idle" }

local function get(client, path_of, what)
  local res, err, kind = retry.run(client, function()
    return api.request(client, function(site)
      return "GET", path_of(site)
    end)
  end)
  if not res then
    return nil, err, kind
  end
  local data = res.data
  if type(data) ~= "table" or data[1] ~= nil then
    return nil, ("%s: the answer is not the expected JSON object (%s)"):format(res.label, what),
      "protocol"
  end
  return data, res
end

-- The largest magnitude a field of each unit may have: far beyond any
-- house or home battery (a site of 100 MW, 1000 MWh), so that only a broken
-- answer meets them. Epoch seconds: from 1970 to 2100.
M.LIMITS = {
  kwh = 1e6,          -- a battery's or the site's energy
  kw = 1e6,           -- a power (kW; rated power as Enlighten gives it)
  wh = 1e8,           -- one interval's energy (Wh)
  wh_day = 1e10,      -- a day's total (Wh)
  count = 1e7,        -- cycles, battery counts
  epoch = 4102444800, -- 2100-01-01T00:00:00Z
}

local UNITS = { kwh = "kWh", kw = "kW", wh = "Wh", wh_day = "Wh", count = "", epoch = "s" }

-- Reads the numbers of one answer (`label`), each checked against
-- M.LIMITS: `r:num(value, unit, field)` is the number, or nil when it is
-- none ("N/A", null...); a number out of range is remembered, and
-- `r:verdict()` then fails as protocol naming the first such field.
local function reader(label)
  local r = { label = label }
  function r.num(_, v, unit, field)
    local n = number(v)
    if n == nil then
      return nil
    end
    local limit = M.LIMITS[unit]
    local low = unit == "epoch" and 0 or -limit
    if n < low or n > limit then
      if not r.bad then
        r.bad = ("%s: %s = %s%s is beyond any battery or house (allowed %s to %s)"):format(
          label, field, ("%.6g"):format(n), UNITS[unit] ~= "" and (" " .. UNITS[unit]) or "",
          ("%.6g"):format(low), ("%.6g"):format(limit))
      end
      return nil
    end
    return n
  end
  function r.verdict()
    if r.bad then
      return nil, r.bad, "protocol"
    end
    return true
  end
  return r
end

local function boolean(v)
  if type(v) == "boolean" then
    return v
  end
  return nil
end

local function storage(r, s, i)
  local function field(name)
    return ("storages[%d].%s"):format(i, name)
  end
  local led = compat.tointeger(number(s.led_status))
  return {
    serial = text(s.serial_number),
    soc = percent(s.current_charge),
    available_kwh = r:num(s.available_energy, "kwh", field("available_energy")),
    capacity_kwh = r:num(s.max_capacity, "kwh", field("max_capacity")),
    available_kw = r:num(s.available_power, "kw", field("available_power")),
    max_kw = r:num(s.max_power, "kw", field("max_power")),
    rated_power = r:num(s.rated_power, "kw", field("rated_power")),
    health = percent(s.battery_soh),
    cycles = r:num(s.cycle_count, "count", field("cycle_count")),
    status = text(s.status),
    status_text = text(s.statusText),
    mode = text(s.battery_mode),
    excluded = boolean(s.excluded),
    error_code = text(s.error_code),
    error_text = text(s.error_text),
    led_status = led,
    state = led and LED[led] or nil,
    last_report = r:num(s.last_report, "epoch", field("last_report")),
  }
end

--- The battery state: `{has_batteries=, soc= (%), available_kwh=,
-- capacity_kwh=, available_kw=, max_kw=, included_count=, excluded_count=,
-- batteries={{serial=, soc=, available_kwh=, capacity_kwh=, available_kw=,
-- max_kw=, rated_power=, health= (SoH %), cycles=, status=, status_text=,
-- mode=, excluded=, error_code=, error_text=, state=
-- ("charging"|"discharging"|"idle"), led_status=, last_report=}},
-- raw=<the answer>}`. Any field may be nil (the counts are the answer's
-- own); a site without batteries is `has_batteries=false` with an empty
-- `batteries` (a JSON array). A battery marked `excluded` does not count in
-- a state of charge computed from the batteries.
function M.battery(client)
  local data, err, kind = get(client, function(site)
    return ("/pv/settings/%d/battery_status.json"):format(site)
  end, "battery status")
  if not data then
    return nil, err, kind
  end
  local r = reader("GET battery_status.json")
  local batteries = json.array()
  local sum_available, sum_capacity = 0, 0
  local storages = type(data.storages) == "table" and data.storages or {}
  for i, s in ipairs(storages) do
    if type(s) == "table" then
      local b = storage(r, s, i)
      batteries[#batteries + 1] = b
      if b.available_kwh and b.capacity_kwh and not b.excluded then
        sum_available, sum_capacity = sum_available + b.available_kwh, sum_capacity + b.capacity_kwh
      end
    end
  end
  local available = r:num(data.available_energy, "kwh", "available_energy")
  local capacity = r:num(data.max_capacity, "kwh", "max_capacity")
  local available_kw = r:num(data.available_power, "kw", "available_power")
  local max_kw = r:num(data.max_power, "kw", "max_power")
  local included = r:num(data.included_count, "count", "included_count")
  local excluded = r:num(data.excluded_count, "count", "excluded_count")
  local ok
  ok, err, kind = r.verdict()
  if not ok then
    return nil, err, kind
  end
  -- the state of charge to a tenth of a point from the energies (kWh with
  -- two decimals), where they agree with the whole percent also given
  local soc = percent(data.current_charge)
  local fine
  if available and capacity and capacity > 0 then
    fine = available / capacity * 100
  elseif sum_capacity > 0 then
    fine = sum_available / sum_capacity * 100
  end
  fine = fine and fine >= 0 and fine <= 100 and math.floor(fine * 10 + 0.5) / 10 or nil
  if fine and (not soc or math.abs(fine - soc) <= 1) then
    soc = fine
  end
  return {
    has_batteries = #batteries > 0,
    soc = soc,
    available_kwh = available or (sum_capacity > 0 and sum_available or nil),
    capacity_kwh = capacity or (sum_capacity > 0 and sum_capacity or nil),
    available_kw = available_kw,
    max_kw = max_kw,
    included_count = included and math.floor(included),
    excluded_count = excluded and math.floor(excluded),
    batteries = batteries,
    raw = data,
  }
end

M.SERIES = { "production", "consumption", "import", "export", "charge", "discharge" }
--- The flows between sources and destinations Enlighten may give (Wh per
-- interval): read when the answer has them.
M.FLOWS = { "solar_home", "solar_battery", "solar_grid", "battery_home", "battery_grid",
            "grid_home", "grid_battery" }
local MAX_INTERVALS = 2 * 96 * 4   -- a day of 7.5-minute buckets, and then some

--- Today's energy: `{start=<local midnight, epoch>, interval=<seconds>,
-- intervals={{start=, production=, consumption=, import=, export=,
-- charge=, discharge=, solar_battery=, grid_battery=, battery_grid=, ...
-- (Wh, M.SERIES and M.FLOWS), soc= (%), settled=<false while Enlighten may
-- still back-fill it>}}, totals={production=, ... (Wh)}, missing_totals=,
-- flows=, soc=, raw=}`. `totals` holds only what the answer's `totals`
-- gives, never a sum of the intervals (an account's answer may lack a
-- total while its array is partial): `missing_totals` lists the series
-- whose total it lacks. `flows` lists the flows the answer has.
-- `day` is nil or "today" (the only day the endpoint answers for).
function M.energy(client, day)
  if day ~= nil and day ~= "today" then
    return errors.fail("input", 'day must be nil or "today": Enlighten answers only today\'s '
      .. "intervals (GET /pv/systems/<site>/today) (got %s)", tostring(day))
  end
  local data, err, kind = get(client, function(site)
    return ("/pv/systems/%d/today"):format(site)
  end, "today's energy")
  if not data then
    return nil, err, kind
  end
  local stats = type(data.stats) == "table" and data.stats[1]
  if type(stats) ~= "table" then
    return errors.fail("protocol", "GET today: the answer has no stats")
  end
  local r = reader("GET today")
  local start = r:num(stats.start_time, "epoch", "stats.start_time")
  local step = number(stats.interval_length)
  step = step and step >= 60 and step <= 86400 and math.floor(step) or 900
  local flows = json.array()
  for _, name in ipairs(M.FLOWS) do
    if type(stats[name]) == "table" then
      flows[#flows + 1] = name
    end
  end
  local names = {}
  for _, list in ipairs({ M.SERIES, flows }) do
    for _, name in ipairs(list) do
      names[#names + 1] = name
    end
  end
  local n = 0
  for _, name in ipairs(names) do
    local list = stats[name]
    if type(list) == "table" then
      n = math.max(n, #list)
    end
  end
  if type(stats.soc) == "table" then
    n = math.max(n, #stats.soc)
  end
  n = math.min(n, MAX_INTERVALS)
  local now = r:num(data.last_report_date, "epoch", "last_report_date") or client.ctx.clock()
  local intervals = json.array()
  for i = 1, n do
    local at = start and start + (i - 1) * step or nil
    local iv = { start = at, settled = at ~= nil and at + 2 * step <= now }
    for _, name in ipairs(names) do
      local list = stats[name]
      iv[name] = type(list) == "table"
        and r:num(list[i], "wh", ("stats.%s[%d]"):format(name, i)) or nil
    end
    iv.soc = type(stats.soc) == "table" and percent(stats.soc[i]) or nil
    intervals[i] = iv
  end
  local totals, missing = {}, json.array()
  local given = type(stats.totals) == "table" and stats.totals or {}
  for _, name in ipairs(names) do
    totals[name] = r:num(given[name], "wh_day", "stats.totals." .. name)
    if totals[name] == nil then -- absent, null, "N/A": missing, never a sum
      missing[#missing + 1] = name
    end
  end
  local ok
  ok, err, kind = r.verdict()
  if not ok then
    return nil, err, kind
  end
  local details = type(data.battery_details) == "table" and data.battery_details or {}
  return {
    start = start,
    interval = step,
    intervals = intervals,
    totals = totals,
    missing_totals = missing,
    flows = flows,
    soc = percent(details.aggregate_soc),
    raw = data,
  }
end

return M
