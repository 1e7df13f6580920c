-- The simulated house over a whole week: for every 15-minute bucket the
-- energy balance closes, the state of charge stays within its bounds, and
-- each rule set through the API (CFG, DTG, RBD, reserve, profile, days,
-- time zone) is obeyed, and only while its mode is on.
local simulator = require("helpers.sim")
local H = require("helpers.client")
local tz = require("enphase.util.tz")

local ZONE = "Europe/London"
local T0 = tz.to_epoch(ZONE, 2026, 4, 6, 0, 0, 0) -- Monday of the bundled week
local WEEK = 7 * 86400
local EPS = 1e-6                                    -- percentage points
local CAPACITY, MAX_KW, EFFICIENCY = 10, 7.68, 0.9
local ETA = math.sqrt(EFFICIENCY)
local FULL_BUCKET_WH = MAX_KW * 1000 / 4

describe("the simulated house", function()
  local sim = simulator.for_file(_ENV)
  local client, now

  before_each(function()
    now = T0
    sim:control("POST", "/__sim/clock", { at = T0, freeze = true })
    sim:control("POST", "/__sim/house", { start = T0, initial_soc = 50 })
    client = H.new(sim, { clock = function()
      return now
    end })
  end)

  after_each(function()
    client:close()
  end)

  local function run_week()
    sim:control("POST", "/__sim/clock", { advance = WEEK })
    local house = sim:control("GET", "/__sim/house")
    assert.equal(7 * 96, #house.buckets)
    return house.buckets
  end

  local function local_time(b)
    return tz.local_time(ZONE, b.start)
  end

  -- The checks every bucket of every week passes.
  local function physics(buckets)
    local worst = 0
    for i, b in ipairs(buckets) do
      local where = ("bucket %d (%s)"):format(i, os.date("!%a %H:%M", b.start))
      assert.equal(900, b.seconds, where)
      -- PV + import + discharge = load + export + charge + losses (stored side)
      local supply = b.pv_wh + b.import_wh + b.stored_out_wh
      local use = b.load_wh + b.export_wh + b.stored_in_wh + b.loss_wh
      local err = math.abs(supply - use) / math.max(1, supply)
      worst = math.max(worst, err)
      assert.truthy(err <= 0.001, where .. (": balance off by %.6f%%"):format(err * 100))
      -- the AC bus on its own, and the losses of the round-trip efficiency
      assert.near(b.pv_wh + b.import_wh + b.discharge_wh, b.load_wh + b.export_wh + b.charge_wh,
        1e-6 * math.max(1, supply), where)
      assert.near(b.charge_wh * ETA, b.stored_in_wh, 1e-6, where)
      assert.near(b.discharge_wh / ETA, b.stored_out_wh, 1e-6, where)
      assert.truthy(b.import_wh * b.export_wh >= 0 and b.loss_wh >= -1e-9, where)
      -- the state of charge follows the stored energy, bucket to bucket
      assert.near(b.soc_start + (b.stored_in_wh - b.stored_out_wh) / (CAPACITY * 10), b.soc_end,
        1e-6, where)
      if i > 1 then
        assert.near(buckets[i - 1].soc_end, b.soc_start, 1e-9, where)
      end
      assert.truthy(b.soc_min >= b.very_low_soc - EPS, where .. ": below the very-low SoC")
      assert.truthy(b.soc_max <= 100 + EPS, where .. ": above 100 %")
      -- never faster than the battery can
      assert.truthy(b.charge_wh <= FULL_BUCKET_WH + 1e-6 and b.discharge_wh <= FULL_BUCKET_WH + 1e-6,
        where)
    end
    return worst
  end

  -- Below the reserve only a DTG window may discharge.
  local function reserve_honoured(buckets)
    for i, b in ipairs(buckets) do
      local where = ("bucket %d (%s)"):format(i, os.date("!%a %H:%M", b.start))
      if b.dtg_seconds == 0 then
        if b.soc_start >= b.reserve - EPS then
          assert.truthy(b.soc_min >= b.reserve - EPS, where .. ": went below the reserve")
        else
          assert.near(0, b.discharge_wh, 1e-9, where .. ": discharged below the reserve")
        end
      end
    end
  end

  local function schedule(kind, from, to, limit, days)
    local id, err = client:add_schedule({ type = kind, start_time = from, end_time = to,
      limit = limit, days = days or { 1, 2, 3, 4, 5, 6, 7 }, timezone = ZONE })
    assert.truthy(id, err)
  end

  it("closes the energy balance and obeys CFG, DTG, RBD, the reserve and the very-low SoC", function()
    assert.truthy(client:set_profile("self-consumption", 20))
    assert.truthy(client:set_very_low_soc(10))
    schedule("CFG", "02:00", "05:00", 90, { 1, 2, 3, 4, 5 })
    schedule("DTG", "17:00", "18:00", 6)
    schedule("RBD", "12:00", "14:00", nil)
    assert.truthy(client:charge_from_grid(true))
    assert.truthy(client:discharge_to_grid(true))
    assert.truthy(client:restrict_discharge(true))
    local buckets = run_week()
    local worst = physics(buckets)
    reserve_honoured(buckets)
    print(("\n    worst energy-balance error over the week: %.2e %%"):format(worst * 100))
    local seen = { cfg = 0, dtg = 0, rbd = 0, dtg_export = 0, cfg_import = 0 }
    for i, b in ipairs(buckets) do
      local where = ("bucket %d (%s)"):format(i, os.date("!%a %H:%M", b.start))
      local lt = local_time(b)
      local m = lt.minute_of_day
      -- each window acts in the site's time zone, on its days, and only then
      local in_cfg = m >= 120 and m < 300 and lt.wday <= 5
      local in_dtg = m >= 1020 and m < 1080
      local in_rbd = m >= 720 and m < 840
      assert.equal(in_cfg and 900 or 0, b.cfg_seconds, where)
      assert.equal(in_dtg and 900 or 0, b.dtg_seconds, where)
      assert.equal(in_rbd and 900 or 0, b.rbd_seconds, where)
      if in_cfg then
        seen.cfg = seen.cfg + 1
        assert.near(0, b.discharge_wh, 1e-9, where .. ": discharged in a CFG window")
        -- full power from the grid until the limit, then no more (no PV at night)
        local room_wh = (90 - b.soc_start) * CAPACITY * 10 / ETA
        assert.near(math.max(0, math.min(FULL_BUCKET_WH, room_wh)), b.charge_wh, 1e-6, where)
        assert.truthy(b.soc_max <= math.max(90, b.soc_start) + EPS, where .. ": beyond the CFG limit")
        if b.charge_wh > 0 then
          seen.cfg_import = seen.cfg_import + 1
          assert.truthy(b.import_wh >= b.charge_wh - b.pv_wh - 1e-6, where)
        end
      end
      if in_dtg then
        seen.dtg = seen.dtg + 1
        -- full power down to max(limit 6, very-low SoC 10)
        local avail_wh = (b.soc_start - 10) * CAPACITY * 10 * ETA
        assert.near(math.max(0, math.min(FULL_BUCKET_WH, avail_wh)), b.discharge_wh, 1e-6, where)
        assert.truthy(b.soc_min >= 10 - EPS, where)
        if b.discharge_wh > b.load_wh then
          seen.dtg_export = seen.dtg_export + 1
          assert.truthy(b.export_wh > 0, where .. ": a DTG window that exports nothing")
        end
      end
      if in_rbd then
        seen.rbd = seen.rbd + 1
        assert.near(0, b.discharge_wh, 1e-9, where .. ": discharged in an RBD window")
      end
    end
    assert.equal(5 * 12, seen.cfg)
    assert.equal(7 * 4, seen.dtg)
    assert.equal(7 * 8, seen.rbd)
    assert.truthy(seen.cfg_import > 0 and seen.dtg_export > 0)
  end)

  it("ignores schedules whose mode is off: self-consumption only", function()
    assert.truthy(client:set_profile("self-consumption", 30))
    schedule("CFG", "02:00", "05:00", 100)
    schedule("DTG", "17:00", "19:00", 6)
    local buckets = run_week()
    physics(buckets)
    reserve_honoured(buckets)
    local discharged = 0
    for _, b in ipairs(buckets) do
      assert.equal(0, b.cfg_seconds + b.dtg_seconds + b.rbd_seconds)
      -- self-consumption: the grid never charges the battery, the battery
      -- never feeds the grid
      assert.truthy(b.charge_wh <= b.pv_wh + 1e-6)
      assert.truthy(b.discharge_wh <= b.load_wh + 1e-6)
      assert.truthy(b.soc_min >= 30 - EPS or b.soc_start < 30)
      discharged = discharged + b.discharge_wh
    end
    assert.truthy(discharged > 0)
  end)

  it("never discharges in backup_only, nor at the cheapest price in cost_savings", function()
    assert.truthy(client:set_profile("backup_only", 100))
    local buckets = run_week()
    physics(buckets)
    for _, b in ipairs(buckets) do
      assert.equal(0, b.discharge_wh)
    end
    now = now + WEEK
    sim:control("POST", "/__sim/house", { start = now, initial_soc = 80 })
    assert.truthy(client:set_profile("cost_savings", 10))
    buckets = run_week()
    physics(buckets)
    local cheapest, other = 0, 0
    for _, b in ipairs(buckets) do
      if b.import_price <= 0.075 then
        cheapest = cheapest + b.discharge_wh
      else
        other = other + b.discharge_wh
      end
    end
    assert.equal(0, cheapest)
    assert.truthy(other > 0)
  end)

  it("crosses midnight: a 23:00-01:00 window on Monday runs into Tuesday, not Monday morning", function()
    assert.truthy(client:set_profile("self-consumption", 10))
    schedule("CFG", "23:00", "01:00", 100, { 1 })
    assert.truthy(client:charge_from_grid(true))
    local buckets = run_week()
    physics(buckets)
    for _, b in ipairs(buckets) do
      local lt = local_time(b)
      local m = lt.minute_of_day
      local want = (lt.wday == 1 and m >= 1380) or (lt.wday == 2 and m < 60)
      assert.equal(want and 900 or 0, b.cfg_seconds, os.date("!%a %H:%M", b.start))
    end
  end)
end)
