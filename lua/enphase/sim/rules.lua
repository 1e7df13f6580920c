-- What the simulated battery does in one step, from what the API set: the
-- precedence of the modes and the power limits. house.lua integrates.
--
--   1. CFG: chargeFromGrid on and a CFG window active: charge at full power
--      (PV first, the grid for the rest) up to the window's limit; above it,
--      only PV surplus charges; no discharge.
--   2. DTG: dtgControl on and a DTG window active: discharge at full power
--      down to max(limit, very-low SoC), the excess exported; at that limit
--      the battery holds until the window ends: no charge, no discharge (PV
--      surplus is exported, the house's deficit imported), so it never
--      swings between charging and discharging.
--   3. RBD: rbdControl on and an RBD window active: no discharge; PV surplus
--      charges.
--   4. Otherwise the profile: PV surplus charges (never the grid); a deficit
--      is covered from the battery down to max(reserve, very-low SoC), except
--      that backup_only never discharges and cost_savings / ai_optimisation
--      do not discharge while the import price is the tariff's cheapest.
-- A window is active in the site's time zone on its days (a window that
-- crosses midnight belongs to the day it starts), once no longer pending.
local M = {}

local function minutes(s)
  local hh, mm = s:match("^(%d%d):(%d%d)$")
  return tonumber(hh) * 60 + tonumber(mm)
end

local function has_day(days, d)
  for _, x in ipairs(days) do
    if x == d then
      return true
    end
  end
  return false
end

--- Is schedule `s` active at local time `lt` (tz.local_time) and epoch `t`?
function M.window_active(s, lt, t)
  if s.pending_until and t < s.pending_until then
    return false
  end
  local key = s.startTime .. s.endTime
  if s._parsed ~= key then
    s._start, s._end, s._parsed = minutes(s.startTime), minutes(s.endTime), key
  end
  local m, a, b = lt.minute_of_day, s._start, s._end
  if a < b then
    return m >= a and m < b and has_day(s.days, lt.wday)
  end
  if m >= a then
    return has_day(s.days, lt.wday)
  end
  return m < b and has_day(s.days, lt.wday == 1 and 7 or lt.wday - 1)
end

--- The first active schedule of `kind` ("CFG", "DTG", "RBD"), or nil.
function M.active(acct, kind, lt, t)
  for _, s in ipairs(acct.schedules) do
    if s.scheduleType == kind and M.window_active(s, lt, t) then
      return s
    end
  end
  return nil
end

local COST_AWARE = { cost_savings = true, ai_optimisation = true }

local function cheapest(tariff)
  if tariff._cheapest == nil then
    tariff._cheapest = tariff:range("import")
  end
  return tariff._cheapest
end

-- The power asked for (`want`, kW), or less so as to land on `pct` % of
-- `capacity` within a step of `h` hours (then `d.capped`): charging and
-- discharging from `energy` kWh stored, at one-way efficiency `eta`.
local function charge_to(d, capacity, energy, eta, h, pct, want)
  local room = capacity * pct / 100 - energy
  if room <= 0 then
    return 0
  end
  local fit = room / (eta * h)
  if fit < want then
    d.capped = true
    return fit
  end
  return want
end

local function discharge_to(d, capacity, energy, eta, h, pct, want)
  local avail = energy - capacity * pct / 100
  if avail <= 0 then
    return 0
  end
  local fit = avail * eta / h
  if fit < want then
    d.capped = true
    return fit
  end
  return want
end

--- The decision for one step of `h` hours: `{charge_kw, discharge_kw (AC),
-- mode ("cfg"|"dtg"|"rbd"|<profile>), limit, floor (the SoC floor in force,
-- %), reserve, very_low_soc, capped}`; `capped` is true when a power was
-- cut so as to land on a limit within the step (house.lua then steps
-- minute by minute).
function M.decide(house, t, lt, price, pv, load, h)
  local acct, cfg = house.acct, house.cfg
  local settings, profile = acct.settings, acct.profile
  local vlow = settings.veryLowSoc or 0
  local reserve = profile.batteryBackupPercentage or 0
  local name = profile.profile
  local d = { charge_kw = 0, discharge_kw = 0, mode = name, reserve = reserve,
              very_low_soc = vlow, floor = math.max(reserve, vlow) }
  local capacity = cfg.capacity_kwh
  if capacity <= 0 then
    return d
  end
  local eta = math.sqrt(cfg.efficiency)
  local energy = house.energy
  local surplus = pv - load
  local function pv_charge()
    return surplus > 0
      and charge_to(d, capacity, energy, eta, h, 100, math.min(surplus, cfg.max_charge_kw)) or 0
  end
  local s = settings.chargeFromGrid and M.active(acct, "CFG", lt, t)
  if s then
    d.mode, d.limit = "cfg", s.limit
    d.charge_kw = math.max(charge_to(d, capacity, energy, eta, h, s.limit, cfg.max_charge_kw),
      pv_charge())
    return d
  end
  local dtg, rbd = settings.dtgControl, settings.rbdControl
  s = type(dtg) == "table" and dtg.enabled and M.active(acct, "DTG", lt, t)
  if s then
    d.mode, d.limit = "dtg", s.limit
    d.floor = math.max(s.limit, vlow)
    d.discharge_kw = discharge_to(d, capacity, energy, eta, h, d.floor, cfg.max_discharge_kw)
    return d
  end
  s = type(rbd) == "table" and rbd.enabled and M.active(acct, "RBD", lt, t)
  if s then
    d.mode = "rbd"
    d.charge_kw = pv_charge()
    return d
  end
  if surplus > 0 then
    d.charge_kw = pv_charge()
  elseif name ~= "backup_only" and not (COST_AWARE[name] and price.import <= cheapest(cfg.tariff)) then
    d.discharge_kw = discharge_to(d, capacity, energy, eta, h, d.floor,
      math.min(-surplus, cfg.max_discharge_kw))
  end
  return d
end

return M
