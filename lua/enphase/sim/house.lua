-- The simulated house behind an account: a battery, a household load, PV and
-- a tariff, run forward on the simulator's clock. The battery obeys what the
-- API set (profile and reserve, very-low SoC, charge from grid, discharge to
-- grid, restrict battery discharge, and their schedules); the equations are
-- in the README ("The simulated house").
--
-- Time is cut into steps that end at every minute boundary (schedules start
-- and end on minutes) and at the moment asked for; within a step every power
-- is constant. Each step's energies are added to its 15-minute bucket.
local tz = require("enphase.util.tz")
local series = require("enphase.sim.series")
local rules = require("enphase.sim.rules")

local M = {}

M.BUCKET = 900
M.KEEP_BUCKETS = 96 * 40        -- history kept (40 days)
M.MAX_CATCH_UP = 400 * 86400    -- a longer clock jump skips instead of integrating

M.DEFAULTS = {
  capacity_kwh = 10,            -- usable energy at 100 %
  max_charge_kw = 7.68,         -- AC power into the battery
  max_discharge_kw = 7.68,      -- AC power out of the battery
  efficiency = 0.90,            -- round trip (AC -> stored -> AC)
  batteries = 2,                -- units the capacity is split into (telemetry)
  initial_soc = 50,             -- percent, when the house starts
}

local House = {}
House.__index = House

--- Checks a house configuration (numbers and series); returns a complete
-- copy or nil and a message naming the field.
function M.check(cfg)
  cfg = cfg or {}
  local out = {}
  for k, v in pairs(M.DEFAULTS) do
    local x = cfg[k]
    if x == nil then
      x = v
    end
    if type(x) ~= "number" or x ~= x or x < 0 or x == math.huge then
      return nil, k .. " must be a number >= 0"
    end
    out[k] = x
  end
  if out.efficiency <= 0 or out.efficiency > 1 then
    return nil, "efficiency must be in (0, 1]"
  end
  if out.initial_soc > 100 then
    return nil, "initial_soc must be 0..100"
  end
  if out.batteries ~= math.floor(out.batteries) then
    return nil, "batteries must be an integer"
  end
  if out.capacity_kwh == 0 or out.batteries == 0 then
    out.capacity_kwh, out.batteries = 0, 0
  end
  for _, kind in ipairs({ "load", "solar", "tariff" }) do
    local s = cfg[kind]
    if s == nil then
      local err
      s, err = series.bundled(kind)
      if not s then
        return nil, err
      end
    end
    out[kind] = s
  end
  return out
end

--- A house for `acct` (the simulator's account: settings, profile,
-- schedules, timezone), started at epoch `t0`. `cfg` comes from check().
function M.new(cfg, acct, t0)
  local self = setmetatable({
    cfg = cfg,
    acct = acct,
    t = t0,
    started = t0,
    energy = cfg.capacity_kwh * cfg.initial_soc / 100,
    buckets = {},             -- bucket start epoch -> record
    order = {},               -- bucket starts, oldest first
    first_kept = 1,
    power = { pv = 0, load = 0, grid = 0, battery = 0 },
    discharged_kwh = 0,       -- stored energy taken out since the start
  }, House)
  return self
end

--- State of charge in percent (nil without a battery).
function House:soc()
  local c = self.cfg.capacity_kwh
  if c <= 0 then
    return nil
  end
  return self.energy / c * 100
end

local function new_bucket(self, start, soc)
  local b = {
    start = start,
    pv_wh = 0, load_wh = 0, import_wh = 0, export_wh = 0,
    charge_wh = 0, discharge_wh = 0,          -- AC, into and out of the battery
    stored_in_wh = 0, stored_out_wh = 0,      -- the stored energy's change
    loss_wh = 0, cost = 0,
    soc_start = soc, soc_end = soc, soc_min = soc, soc_max = soc,
    seconds = 0, reserve_seconds = 0, cfg_seconds = 0, dtg_seconds = 0, rbd_seconds = 0,
    import_price = 0, export_price = 0,
    reserve = 0, very_low_soc = 0,
  }
  self.buckets[start] = b
  self.order[#self.order + 1] = start
  while #self.order - self.first_kept + 1 > M.KEEP_BUCKETS do
    self.buckets[self.order[self.first_kept]] = nil
    self.order[self.first_kept] = nil
    self.first_kept = self.first_kept + 1
  end
  return b
end

-- One step [t, t + dt) of constant powers.
local function step(self, t, dt)
  local cfg, acct = self.cfg, self.acct
  local zone = acct.timezone
  local lt = tz.local_time(zone, t) or tz.local_time("UTC", t)
  local wall = t + lt.offset
  local pv = cfg.solar:at_wall(wall).watts / 1000
  local load = cfg.load:at_wall(wall).watts / 1000
  local price = cfg.tariff:at_wall(wall)
  local h = dt / 3600
  local d = rules.decide(self, t, lt, price, pv, load, h)
  local charge, discharge = d.charge_kw, d.discharge_kw
  local eta = math.sqrt(cfg.efficiency)
  local soc_before = self:soc()
  local stored_in = charge * h * eta
  local stored_out = discharge * h / eta
  self.energy = self.energy + stored_in - stored_out
  self.discharged_kwh = self.discharged_kwh + stored_out
  -- rounding may leave a hair outside [0, capacity]
  if self.energy < 0 then
    self.energy = 0
  elseif self.energy > cfg.capacity_kwh then
    self.energy = cfg.capacity_kwh
  end
  local grid = load + charge - pv - discharge
  local import, export = math.max(grid, 0), math.max(-grid, 0)
  self.power = { pv = pv, load = load, grid = grid, battery = discharge - charge }
  local start = t - t % M.BUCKET
  local b = self.buckets[start] or new_bucket(self, start, soc_before)
  b.pv_wh = b.pv_wh + pv * h * 1000
  b.load_wh = b.load_wh + load * h * 1000
  b.import_wh = b.import_wh + import * h * 1000
  b.export_wh = b.export_wh + export * h * 1000
  b.charge_wh = b.charge_wh + charge * h * 1000
  b.discharge_wh = b.discharge_wh + discharge * h * 1000
  b.stored_in_wh = b.stored_in_wh + stored_in * 1000
  b.stored_out_wh = b.stored_out_wh + stored_out * 1000
  b.loss_wh = b.loss_wh + (charge * h - stored_in + stored_out - discharge * h) * 1000
  b.cost = b.cost + import * h * price.import - export * h * price.export
  b.import_price, b.export_price = price.import, price.export
  local soc = self:soc()
  b.soc_end = soc
  if soc then
    b.soc_min = math.min(b.soc_min or soc, soc)
    b.soc_max = math.max(b.soc_max or soc, soc)
    if soc <= d.floor + 0.1 then
      b.reserve_seconds = b.reserve_seconds + dt
    end
  end
  b.reserve, b.very_low_soc = d.reserve, d.very_low_soc
  b.seconds = b.seconds + dt
  b.cfg_seconds = b.cfg_seconds + (d.mode == "cfg" and dt or 0)
  b.dtg_seconds = b.dtg_seconds + (d.mode == "dtg" and dt or 0)
  b.rbd_seconds = b.rbd_seconds + (d.mode == "rbd" and dt or 0)
  b.mode = d.mode
  b.limit = d.limit
end

--- Runs the house forward to epoch `now` (never backwards).
function House:advance(now)
  if now <= self.t then
    return
  end
  if now - self.t > M.MAX_CATCH_UP then
    self.t = now - 86400
  end
  local t = self.t
  while t < now do
    local next_t = math.min(now, (t // 60 + 1) * 60)
    step(self, t, next_t - t)
    t = next_t
  end
  self.t = now
end

--- The buckets that start in [from, to), oldest first (a missing one is nil
-- in the returned list, which has `(to - from) / BUCKET` slots).
function House:range(from, to)
  local out = {}
  local n = 0
  for s = from, to - 1, M.BUCKET do
    n = n + 1
    out[n] = self.buckets[s] or false
  end
  return out, n
end

--- Every kept bucket, oldest first.
function House:history()
  local out = {}
  for i = self.first_kept, #self.order do
    out[#out + 1] = self.buckets[self.order[i]]
  end
  return out
end

return M
