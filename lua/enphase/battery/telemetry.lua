--- Battery state and today's energy: the reads a policy needs.
--
-- Both answers come from Enlighten's web API, whose values are loosely
-- typed: percentages are strings ("48%"), any value may be "N/A", null or
-- missing. Every field is parsed on its own: a value that is not a finite
-- number becomes nil, never an error; only an answer that is not the JSON
-- object expected fails (`nil, message, "protocol"`).
local api = require("enphase.transport.api")
local retry = require("enphase.transport.retry")
local errors = require("enphase.errors")

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
    local i = math.tointeger(v)
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

local function storage(s)
  local led = math.tointeger(number(s.led_status))
  return {
    serial = text(s.serial_number),
    soc = percent(s.current_charge),
    available_kwh = number(s.available_energy),
    capacity_kwh = number(s.max_capacity),
    health = percent(s.battery_soh),
    cycles = number(s.cycle_count),
    status = text(s.status),
    led_status = led,
    state = led and LED[led] or nil,
    last_report = number(s.last_report),
  }
end

--- The battery state: `{has_batteries=, soc= (%), available_kwh=,
-- capacity_kwh=, available_kw=, max_kw=, batteries={{serial=, soc=,
-- available_kwh=, capacity_kwh=, health= (SoH %), cycles=, status=,
-- state= ("charging"|"discharging"|"idle"), led_status=, last_report=}},
-- raw=<the answer>}`. Any field may be nil; a site without batteries is
-- `has_batteries=false` with an empty `batteries`.
function M.battery(client)
  local data, err, kind = get(client, function(site)
    return ("/pv/settings/%d/battery_status.json"):format(site)
  end, "battery status")
  if not data then
    return nil, err, kind
  end
  local batteries = {}
  local sum_available, sum_capacity = 0, 0
  local storages = type(data.storages) == "table" and data.storages or {}
  for _, s in ipairs(storages) do
    if type(s) == "table" then
      local b = storage(s)
      batteries[#batteries + 1] = b
      if b.available_kwh and b.capacity_kwh then
        sum_available, sum_capacity = sum_available + b.available_kwh, sum_capacity + b.capacity_kwh
      end
    end
  end
  local available = number(data.available_energy)
  local capacity = number(data.max_capacity)
  local soc = percent(data.current_charge)
  if not soc then
    if available and capacity and capacity > 0 then
      soc = available / capacity * 100
    elseif sum_capacity > 0 then
      soc = sum_available / sum_capacity * 100
    end
    soc = soc and soc >= 0 and soc <= 100 and soc or nil
  end
  return {
    has_batteries = #batteries > 0,
    soc = soc,
    available_kwh = available or (sum_capacity > 0 and sum_available or nil),
    capacity_kwh = capacity or (sum_capacity > 0 and sum_capacity or nil),
    available_kw = number(data.available_power),
    max_kw = number(data.max_power),
    batteries = batteries,
    raw = data,
  }
end

M.SERIES = { "production", "consumption", "import", "export", "charge", "discharge" }
local MAX_INTERVALS = 2 * 96 * 4   -- a day of 7.5-minute buckets, and then some

--- Today's energy: `{start=<local midnight, epoch>, interval=<seconds>,
-- intervals={{start=, production=, consumption=, import=, export=,
-- charge=, discharge= (Wh), soc= (%), settled=<false while Enlighten may
-- still back-fill it>}}, totals={production=, ... (Wh)}, soc=, raw=}`.
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
  local start = number(stats.start_time)
  local step = number(stats.interval_length)
  step = step and step >= 60 and step <= 86400 and step or 900
  local n = 0
  for _, name in ipairs(M.SERIES) do
    local list = stats[name]
    if type(list) == "table" then
      n = math.max(n, #list)
    end
  end
  if type(stats.soc) == "table" then
    n = math.max(n, #stats.soc)
  end
  n = math.min(n, MAX_INTERVALS)
  local now = number(data.last_report_date) or client.ctx.clock()
  local intervals = {}
  local sums = {}
  for i = 1, n do
    local at = start and start + (i - 1) * step or nil
    local iv = { start = at, settled = at ~= nil and at + 2 * step <= now }
    for _, name in ipairs(M.SERIES) do
      local list = stats[name]
      local v = type(list) == "table" and number(list[i]) or nil
      iv[name] = v
      if v then
        sums[name] = (sums[name] or 0) + v
      end
    end
    iv.soc = type(stats.soc) == "table" and percent(stats.soc[i]) or nil
    intervals[i] = iv
  end
  local totals = {}
  local given = type(stats.totals) == "table" and stats.totals or {}
  for _, name in ipairs(M.SERIES) do
    totals[name] = number(given[name]) or sums[name]
  end
  local details = type(data.battery_details) == "table" and data.battery_details or {}
  return {
    start = start,
    interval = step,
    intervals = intervals,
    totals = totals,
    soc = percent(details.aggregate_soc),
    raw = data,
  }
end

return M
