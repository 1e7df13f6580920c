--- A price-driven policy: whenever a price changes it looks at the tariff
-- of the next 24 hours. While the import price is the cheapest of that day it
-- charges from the grid until the cheap block ends (a timed CFG window, up
-- to TARGET %). While the export price beats every import price the
-- exported energy would otherwise have saved, it discharges to the grid (a
-- timed DTG window, down to RESERVE % at the lowest): exporting a stored
-- kWh earns the export price after the round trip's losses; keeping it
-- saves the import price of the moment the house uses it, or, when the
-- house does not need it before the next cheap block, only that block's
-- price (the battery is refilled there). So it exports, while the export
-- price is the best one before that block, what the house will not need
-- from the battery before it at import prices the export does not beat
-- (from ctx.forecast's load and PV; without them, only when the export
-- beats every import price until that block). Otherwise the battery runs
-- on self-consumption with a low reserve. It needs prices: ctx.price (the
-- simulator's tariff, or `enphase policy --tariff CSV` against the
-- account), and for exports the battery's capacity and power.
local compat = require("enphase.util.compat")

local TARGET, RESERVE = 90, 10
local ROUND_TRIP = 0.9 -- assumed when judging whether exporting pays
local STEP = 900
local DAY = 86400

-- The seconds from `now` to the end of the block of equal prices (at most a day).
local function block_end(ctx, now, which)
  local first = select(which, ctx.price(now))
  local t = now - now % STEP + STEP
  while t < now + DAY and select(which, ctx.price(t)) == first do
    t = t + STEP
  end
  return t - now
end

local function cheapest_import(ctx, now)
  local low = math.huge
  for t = now, now + DAY - STEP, STEP do
    low = math.min(low, (ctx.price(t)))
  end
  return low
end

-- The start of the next block at import price `low` after the current one
-- (the battery's next refill), at most a day ahead.
local function next_refill(ctx, now, low)
  local t = now - now % STEP + STEP
  while t < now + DAY and ctx.price(t) > low do
    t = t + STEP
  end
  return t
end

-- The load and PV forecasts from `from` to `to`, or nil when there are none
-- (against the account without --load and --solar).
local function forecasts(ctx, from, to)
  local ok, load = compat.pcall(ctx.forecast, "load", from, to)
  local ok2, pv = compat.pcall(ctx.forecast, "solar", from, to)
  if ok and ok2 then
    return load, pv
  end
end

-- The stored energy (kWh) the battery must hold above its reserve at `now`
-- to cover the house until `refill` at every import price that exporting at
-- `export` does not beat, the PV surplus it stores meanwhile counted in: a
-- backward pass over the quarters. nil when that is unknown (no forecast
-- and some import price not beaten).
local function needed_kwh(ctx, now, refill, export)
  local eff = math.sqrt(ROUND_TRIP)
  local load, pv = forecasts(ctx, now, refill)
  if not load then
    for t = now, refill - 1, STEP do
      if export * ROUND_TRIP <= ctx.price(t) then
        return nil
      end
    end
    return 0
  end
  local need = 0
  for i = #load, 1, -1 do
    local slot = load[i].at
    local from, to = math.max(slot, now), math.min(slot + STEP, refill)
    local hours = math.max(0, to - from) / 3600
    local net_kw = (load[i].watts - (pv[i] and pv[i].watts or 0)) / 1000
    if net_kw > 0 then
      if export * ROUND_TRIP <= ctx.price(from) then
        need = need + net_kw * hours / eff
      end
    else
      need = math.max(0, need + net_kw * hours * eff)
    end
  end
  return need
end

-- The best export price from `now` until `refill`.
local function best_export(ctx, now, refill)
  local high = -math.huge
  for t = now, refill - 1, STEP do
    high = math.max(high, select(2, ctx.price(t)))
  end
  return high
end

-- Exports the surplus while exporting pays: the DTG window's minutes, or nil.
local function export_surplus(client, ctx, now, export, low)
  local refill = next_refill(ctx, now, low)
  if export * ROUND_TRIP <= low or export < best_export(ctx, now, refill) then
    return nil
  end
  local b = client:battery()
  if not (b and b.soc and b.capacity_kwh and b.capacity_kwh > 0 and b.max_kw and b.max_kw > 0) then
    return nil
  end
  local need = needed_kwh(ctx, now, refill, export)
  if not need then
    return nil
  end
  local floor = math.ceil(RESERVE + need / b.capacity_kwh * 100)
  if b.soc < floor + 1 then
    return nil
  end
  -- at full power down to the floor (the window then ends: at its limit
  -- a DTG window holds the battery), within the export price's block
  local kwh = (b.soc - floor) / 100 * b.capacity_kwh * math.sqrt(ROUND_TRIP)
  local minutes = math.min(math.ceil(kwh / b.max_kw * 60) + 1,
    math.floor(block_end(ctx, now, 2) / 60), 1439)
  local id, info = client:discharge_for(minutes, { limit = floor })
  ctx.log(id and ("exporting %s-%s at %.3f/kWh down to %d %%"):format(info.start_time,
    info.end_time, export, floor) or ("could not discharge: " .. tostring(info)))
  return minutes
end

return {
  name = "price-driven",
  run = function(client, ctx)
    local now = ctx.now
    local import, export = ctx.price(now) -- raises, with a clear message, without a tariff
    if ctx.first then
      local p = client:profile()
      if p and (p.profile ~= "self-consumption" or p.reserve ~= RESERVE) then
        client:set_profile("self-consumption", RESERVE)
      end
    end
    local low = cheapest_import(ctx, now)
    local soc = (client:battery() or {}).soc
    if import <= low and soc and soc < TARGET then
      local minutes = math.min(1439, math.floor(block_end(ctx, now, 1) / 60))
      local id, info = client:charge_for(minutes, { limit = TARGET })
      ctx.log(id and ("charging %s-%s at %.3f/kWh"):format(info.start_time, info.end_time, import)
        or ("could not charge: " .. tostring(info)))
      return minutes * 60
    end
    if import > low then
      local minutes = export_surplus(client, ctx, now, export, low)
      if minutes then
        return minutes * 60
      end
    end
    -- nothing to do until the next price change
    return math.min(block_end(ctx, now, 1), block_end(ctx, now, 2))
  end,
}
