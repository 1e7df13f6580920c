--- A price-driven policy: whenever a price changes it looks at the tariff
-- of the next 24 hours. While the import price is the cheapest of that day it
-- charges from the grid until the cheap block ends (a timed CFG window, up
-- to TARGET %); while the export price beats every import price of the
-- next day (a spike), it discharges to the grid for the spike (down to
-- FLOOR %). Otherwise the battery runs on self-consumption with a low
-- reserve. It needs prices: ctx.price (the simulator's tariff, or
-- `enphase policy --tariff CSV` against the account).
local TARGET, FLOOR, RESERVE = 90, 30, 10
local STEP = 900

-- The seconds from `now` to the end of the block of equal prices (at most a day).
local function block_end(ctx, now, which)
  local first = select(which, ctx.price(now))
  local t = now - now % STEP + STEP
  while t < now + 86400 and select(which, ctx.price(t)) == first do
    t = t + STEP
  end
  return t - now
end

local function extremes(ctx, now)
  local min_import, max_import = math.huge, -math.huge
  for t = now, now + 86400 - STEP, STEP do
    local import = ctx.price(t)
    min_import, max_import = math.min(min_import, import), math.max(max_import, import)
  end
  return min_import, max_import
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
    local min_import, max_import = extremes(ctx, now)
    local soc = (client:battery() or {}).soc
    if import <= min_import and soc and soc < TARGET then
      local minutes = math.min(1439, math.floor(block_end(ctx, now, 1) / 60))
      local id, info = client:charge_for(minutes, { limit = TARGET })
      ctx.log(id and ("charging %s-%s at %.3f/kWh"):format(info.start_time, info.end_time, import)
        or ("could not charge: " .. tostring(info)))
      return minutes * 60
    end
    if export > max_import and soc and soc > FLOOR then
      local minutes = math.min(1439, math.floor(block_end(ctx, now, 2) / 60))
      local id, info = client:discharge_for(minutes, { limit = FLOOR })
      ctx.log(id and ("exporting %s-%s at %.3f/kWh"):format(info.start_time, info.end_time, export)
        or ("could not discharge: " .. tostring(info)))
      return minutes * 60
    end
    -- nothing to do until the next price change
    return math.min(block_end(ctx, now, 1), block_end(ctx, now, 2))
  end,
}
