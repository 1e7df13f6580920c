-- The simulated house behind an account: a battery, a household load, PV and
-- a tariff, run forward on the simulator's clock. The battery obeys what the
-- API set (profile and reserve, very-low SoC, charge from grid, discharge to
-- grid, restrict battery discharge, and their schedules); the equations are
-- in the README ("The simulated house").
--
-- Time is cut into segments that end wherever an input can change: every
-- 15-minute bucket boundary, every row change of the three series, every
-- minute a schedule starts or ends (or stops being pending) and the moment
-- asked for. Within a segment every power is constant unless the battery
-- reaches a limit (full, or its floor): such a segment is run minute by
-- minute, the power of the last minute reduced to land on the limit, as if
-- the whole house were stepped every minute. Each step's energies are
-- added to its 15-minute bucket; the last KEEP_BUCKETS buckets are kept
-- (a queue, so memory stays flat however long the house runs).
local tz = require("enphase.util.tz")
local series = require("enphase.sim.series")
local rules = require("enphase.sim.rules")

local M = {}

M.BUCKET = 900
M.KEEP_BUCKETS = 96 * 8         -- history kept (8 days: a week and today)
M.MAX_CATCH_UP = 400 * 86400    -- a longer clock jump skips instead of integrating

M.DEFAULTS = {
  capacity_kwh = 10,            -- usable energy at 100 %
  max_charge_kw = 7.68,         -- AC power into the battery
  max_discharge_kw = 7.68,      -- AC power out of the battery
  efficiency = 0.90,            -- round trip (AC -> stored -> AC)
  batteries = 2,                -- units the capacity is split into (telemetry)
  initial_soc = 50,             -- percent, when the house starts
}

-- The largest numbers a house may have: beyond them it is not a house.
M.LIMITS = {
  capacity_kwh = 1000, max_charge_kw = 1000, max_discharge_kw = 1000, batteries = 100,
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
    if M.LIMITS[k] and x > M.LIMITS[k] then
      return nil, ("%s must be at most %g"):format(k, M.LIMITS[k])
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
    order = {},               -- bucket starts, oldest first, in order[head..tail]
    head = 1,
    tail = 0,
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
    import_cost = 0, export_value = 0,        -- Σ energy x price, each way
    import_price_seconds = 0, export_price_seconds = 0, -- Σ price x seconds
    soc_start = soc, soc_end = soc, soc_min = soc, soc_max = soc,
    seconds = 0, reserve_seconds = 0, cfg_seconds = 0, dtg_seconds = 0, rbd_seconds = 0,
    profile_seconds = 0,
    import_price = 0, export_price = 0,
    reserve = 0, very_low_soc = 0,
  }
  self.buckets[start] = b
  self.tail = self.tail + 1
  self.order[self.tail] = start
  while self.tail - self.head + 1 > M.KEEP_BUCKETS do
    self.buckets[self.order[self.head]] = nil
    self.order[self.head] = nil
    self.head = self.head + 1
  end
  return b
end

-- The bucket's mode: the one it spent the most seconds in (the profile's
-- name when no window was active longest; cfg before dtg before rbd).
local function dominant_mode(b, profile)
  local mode, most = profile, b.profile_seconds
  if b.cfg_seconds > most then
    mode, most = "cfg", b.cfg_seconds
  end
  if b.dtg_seconds > most then
    mode, most = "dtg", b.dtg_seconds
  end
  if b.rbd_seconds > most then
    mode = "rbd"
  end
  return mode
end

-- The bucket field counting the seconds of each window mode.
local SECONDS_OF = { cfg = "cfg_seconds", dtg = "dtg_seconds", rbd = "rbd_seconds" }

-- Adds one step [t, t + dt) of decision `d` (rules.decide) to the house
-- and its bucket; `price` is the tariff row, `pv`/`load` in kW, `lt` the
-- local time at t.
local function apply(self, t, dt, d, price, pv, load)
  local cfg = self.cfg
  local h = dt / 3600
  local charge, discharge = d.charge_kw, d.discharge_kw
  local eta = math.sqrt(cfg.efficiency)
  local capacity = cfg.capacity_kwh
  local soc_before = capacity > 0 and self.energy / capacity * 100 or nil
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
  local power = self.power
  power.pv, power.load, power.grid, power.battery = pv, load, grid, discharge - charge
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
  b.import_cost = b.import_cost + import * h * price.import
  b.export_value = b.export_value + export * h * price.export
  b.cost = b.import_cost - b.export_value
  b.import_price_seconds = b.import_price_seconds + price.import * dt
  b.export_price_seconds = b.export_price_seconds + price.export * dt
  local soc = capacity > 0 and self.energy / capacity * 100 or nil
  b.soc_end = soc
  if soc then
    b.soc_min = math.min(b.soc_min or soc, soc, soc_before or soc)
    b.soc_max = math.max(b.soc_max or soc, soc, soc_before or soc)
    local line = d.floor + 0.1
    if soc <= line and (soc_before or soc) <= line then
      b.reserve_seconds = b.reserve_seconds + dt
    elseif soc <= line or (soc_before or soc) <= line then
      -- linear within the step: the part of it spent at most 0.1 point above the floor
      local lo, hi = math.min(soc, soc_before), math.max(soc, soc_before)
      b.reserve_seconds = b.reserve_seconds + dt * (line - lo) / (hi - lo)
    end
  end
  b.reserve, b.very_low_soc = d.reserve, d.very_low_soc
  b.seconds = b.seconds + dt
  local key = SECONDS_OF[d.mode]
  if key then
    b[key] = b[key] + dt
    if d.limit then
      b.limit = d.limit
    end
  else
    b.profile_seconds = b.profile_seconds + dt
    b.profile = d.mode
  end
  -- energy-weighted prices (so import_wh x import_price - export_wh x
  -- export_price = cost), time-weighted where no energy flowed
  b.import_price = b.import_wh > 0 and b.import_cost * 1000 / b.import_wh
    or b.import_price_seconds / b.seconds
  b.export_price = b.export_wh > 0 and b.export_value * 1000 / b.export_wh
    or b.export_price_seconds / b.seconds
  b.mode = dominant_mode(b, b.profile or d.mode)
end

-- The inputs at epoch t: local time, wall seconds, PV and load (kW), the
-- tariff row.
-- The local time is what the rules read of it (minute_of_day, wday), made
-- without os.date; the zone's offset is looked up once per bucket (every
-- zone changes its offset on a quarter hour of UTC).
local function inputs(self, t)
  local cfg = self.cfg
  local bucket = t - t % M.BUCKET
  if self.offset_bucket ~= bucket or self.offset_zone ~= self.acct.timezone then
    self.offset_bucket, self.offset_zone = bucket, self.acct.timezone
    self.offset = tz.offset(self.acct.timezone, bucket) or 0
  end
  local wall = t + self.offset
  local days = math.floor(wall / 86400)
  local lt = { minute_of_day = math.floor(wall % 86400 / 60), wday = (days + 3) % 7 + 1,
               offset = self.offset }
  return lt, wall, cfg.solar:at_wall(wall).watts / 1000, cfg.load:at_wall(wall).watts / 1000,
    cfg.tariff:at_wall(wall)
end

-- One step [t, t + dt) of constant powers (at most a minute, or a segment
-- whose decision does not reach a limit).
local function step(self, t, dt)
  local lt, _, pv, load, price = inputs(self, t)
  apply(self, t, dt, rules.decide(self, t, lt, price, pv, load, dt / 3600), price, pv, load)
end

-- The epoch of the next change of series `s` after wall seconds `wall`.
local function next_row(s, wall, t)
  local k = math.floor((wall - s.start_wall) / s.step) + 1
  return t + (s.start_wall + k * s.step - wall)
end

-- The minute of the day of "HH:MM", or nil; remembered per text (at most
-- the 1440 valid ones).
local minutes_of = {}
local function hhmm_minutes(v)
  local m = minutes_of[v]
  if m == nil then
    local hh, mm = tostring(v):match("^(%d%d):(%d%d)$")
    if not hh then
      return nil
    end
    m = tonumber(hh) * 60 + tonumber(mm)
    minutes_of[v] = m
  end
  return m
end

-- Where the segment starting at `t` (local time `lt`, wall seconds `wall`)
-- ends: at most `limit`.
local function segment_end(self, t, lt, wall, limit)
  local cfg = self.cfg
  local e = math.min(limit, t - t % M.BUCKET + M.BUCKET)
  e = math.min(e, next_row(cfg.solar, wall, t), next_row(cfg.load, wall, t),
    next_row(cfg.tariff, wall, t))
  local minute_start = t - t % 60
  local m = lt.minute_of_day
  for _, s in ipairs(self.acct.schedules) do
    local a, b = hhmm_minutes(s.startTime), hhmm_minutes(s.endTime)
    if a then
      e = math.min(e, minute_start + ((a - m - 1) % 1440 + 1) * 60)
    end
    if b then
      e = math.min(e, minute_start + ((b - m - 1) % 1440 + 1) * 60)
    end
    if s.pending_until and s.pending_until > t then
      -- pending ends at a moment; the window is looked at from the minute after
      e = math.min(e, s.pending_until)
    end
  end
  return e
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
    local lt, wall, pv, load, price = inputs(self, t)
    local e = segment_end(self, t, lt, wall, now)
    local d = rules.decide(self, t, lt, price, pv, load, (e - t) / 3600)
    if not d.capped then
      apply(self, t, e - t, d, price, pv, load)
      t = e
    else
      -- a limit is reached within the segment: as a house stepped every
      -- minute would, full power for the whole minutes that stay off it
      -- (found by bisection: a decision over k minutes that is not capped
      -- is the same in each of them), then the minute that lands on it
      local whole = 0
      if t % 60 == 0 then
        local lo, hi = 0, math.floor((e - t) / 60) - 1
        while lo < hi do
          local mid = math.floor((lo + hi + 1) / 2)
          if rules.decide(self, t, lt, price, pv, load, mid / 60).capped then
            hi = mid - 1
          else
            lo = mid
          end
        end
        whole = lo
      end
      if whole > 0 then
        apply(self, t, whole * 60, rules.decide(self, t, lt, price, pv, load, whole / 60), price,
          pv, load)
        t = t + whole * 60
      else
        local next_t = math.min(e, t - t % 60 + 60)
        step(self, t, next_t - t)
        t = next_t
      end
    end
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
  for i = self.head, self.tail do
    out[#out + 1] = self.buckets[self.order[i]]
  end
  return out
end

return M
