--- What the bridge publishes: one poll's reads through the library (inside
-- an engine operation), turned into the entities' state payloads, and the
-- memory of what was last published (so a change is published at once).
local tz = require("enphase.util.tz")

local M = {}

local function on_off(v)
  if v == nil then
    return nil
  end
  return v and "ON" or "OFF"
end

local function fixed(v, digits)
  if type(v) ~= "number" or v ~= v then
    return nil
  end
  local s = ("%." .. digits .. "f"):format(v)
  if digits > 0 then
    s = s:gsub("0+$", ""):gsub("%.$", "")
  end
  return s
end

local function kwh(wh)
  return type(wh) == "number" and fixed(wh / 1000, 3) or nil
end

--- The settings read's values (`client:settings()`).
function M.from_settings(s)
  return {
    charge_from_grid = on_off(s.charge_from_grid),
    discharge_to_grid = on_off(s.discharge_to_grid),
    restrict_discharge = on_off(s.restrict_discharge),
    profile = type(s.profile) == "string" and s.profile or nil,
    reserve = fixed(s.reserve, 0),
  }
end

--- The battery power (W, positive while discharging) from today's last
-- interval that holds charge or discharge figures.
function M.battery_power(energy)
  local step = energy.interval
  for i = #energy.intervals, 1, -1 do
    local iv = energy.intervals[i]
    if iv.charge or iv.discharge then
      return ((iv.discharge or 0) - (iv.charge or 0)) * 3600 / step
    end
  end
  return nil
end

local MODES = { "cfg", "dtg", "rbd" }
local DAY_NAMES = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" }

local function minute_of(hhmm)
  local h, m = tostring(hhmm or ""):match("^(%d%d?):(%d%d)")
  return h and tonumber(h) * 60 + tonumber(m) or nil
end

--- The next schedule to start, from `client:schedules()` at epoch `now`,
-- as "CFG 02:00-05:00 Tue", or "none".
function M.next_schedule(list, now, default_zone)
  local best, best_in
  for _, mode in ipairs(MODES) do
    for _, s in ipairs(list[mode] or {}) do
      local start = minute_of(s.start_time)
      local zone = s.timezone or default_zone or "UTC"
      local lt = start and s.enabled ~= false and tz.local_time(zone, now)
      if lt then
        local days = {}
        for _, d in ipairs(s.days or {}) do
          days[tonumber(d) or 0] = true
        end
        for ahead = 0, 7 do
          local wday = (lt.wday - 1 + ahead) % 7 + 1
          local delta = ahead * 1440 + start - lt.minute_of_day
          if days[wday] and delta > 0 then
            if not best_in or delta < best_in then
              best_in = delta
              best = ("%s %s-%s %s"):format(mode:upper(), s.start_time, s.end_time or "?",
                DAY_NAMES[wday])
            end
            break
          end
        end
      end
    end
  end
  return best or "none"
end

--- One poll, inside an engine operation: every read the entities need.
-- Returns `values` (entity id -> payload string; reads that failed leave
-- theirs out) and the first failure `{kind=, message=}` or nil. A failure
-- of the first read (login, network) stops the poll there: the others
-- would fail the same way and spend the budget.
function M.poll(client)
  local values, failure = {}, nil
  local function note(err, kind)
    failure = failure or { kind = kind or "error", message = tostring(err) }
  end
  local s, err, kind = client:settings()
  if not s then
    note(err, kind)
    return values, failure, true
  end
  for k, v in pairs(M.from_settings(s)) do
    values[k] = v
  end
  local b
  b, err, kind = client:battery()
  if b then
    values.soc = fixed(b.soc, 0)
    values.available_energy = fixed(b.available_kwh, 2)
  else
    note(err, kind)
  end
  local e
  e, err, kind = client:energy()
  if e then
    values.production_today = kwh(e.totals.production)
    values.consumption_today = kwh(e.totals.consumption)
    values.import_today = kwh(e.totals.import)
    values.export_today = kwh(e.totals.export)
    values.battery_power = fixed(M.battery_power(e), 0)
  else
    note(err, kind)
  end
  local list
  list, err, kind = client:schedules()
  if list then
    values.next_schedule = M.next_schedule(list, client:now(), client:timezone())
  else
    note(err, kind)
  end
  local sg
  sg, err, kind = client:storm_guard()
  if sg then
    values.storm_guard = on_off(sg.enabled)
  else
    note(err, kind)
  end
  return values, failure, false
end

-- ------------------------------------------------------------ what was published

local Memory = {}
Memory.__index = Memory

--- A memory of the payloads last published per topic.
function M.memory()
  return setmetatable({ last = {} }, Memory)
end

--- True when `payload` differs from what `topic` last carried; remembers it.
function Memory:changed(topic, payload)
  if self.last[topic] == payload then
    return false
  end
  self.last[topic] = payload
  return true
end

--- Forgets everything (after a reconnect: the broker may have lost it).
function Memory:forget()
  self.last = {}
end

return M
