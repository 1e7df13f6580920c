--- A price policy for tariffs whose export price beats the cheapest import
-- (the bundled week: export 0.15 against 0.075 at night): while the import
-- price is the cheapest of the next 24 hours and exporting pays back what
-- charging costs, it cycles the battery, a timed CFG window up to 100 %,
-- then a timed DTG window down to FLOOR %, again and again, and ends the
-- cheap block full. A cheap block where exporting does not pay only
-- charges. The rest of the time the battery runs on self-consumption with
-- a 0 % reserve (the very-low SoC is the floor), covering the dear hours.
-- It needs prices (ctx.price) and reads the battery's capacity and power
-- from client:battery().
local FLOOR, RESERVE = 6, 0
local ROUND_TRIP = 0.9 -- assumed when judging whether a cycle pays
local STEP = 900

-- The seconds from `now` to the end of the block of equal prices (at most a day).
local function block_end(ctx, now)
  local i0, e0 = ctx.price(now)
  local t = now - now % STEP + STEP
  while t < now + 86400 do
    local i, e = ctx.price(t)
    if i ~= i0 or e ~= e0 then
      break
    end
    t = t + STEP
  end
  return t - now
end

local function cheapest_import(ctx, now)
  local low = math.huge
  for t = now, now + 86400 - STEP, STEP do
    low = math.min(low, (ctx.price(t)))
  end
  return low
end

-- Minutes to move the SoC from `from` to `to` % at full power.
local function minutes_between(b, from, to)
  local kwh = math.abs(to - from) / 100 * b.capacity_kwh
  return math.ceil(kwh / (b.max_kw * math.sqrt(ROUND_TRIP)) * 60)
end

local state = { direction = nil }

local function cycle(client, ctx, b, remaining)
  local soc = b.soc
  local full = minutes_between(b, soc, 100)
  if state.direction == nil then
    state.direction = soc > 50 and "down" or "up"
  end
  if soc >= 99 then
    state.direction = "down"
  elseif soc <= FLOOR + 1 then
    state.direction = "up"
  end
  -- keep enough of the block to end it full: a shorter discharge, or none
  local down = minutes_between(b, soc, FLOOR)
  if state.direction == "down" then
    -- discharging d minutes takes about d / round trip minutes to charge back
    local fits = math.floor((remaining - full - 2) * ROUND_TRIP / (1 + ROUND_TRIP))
    down = math.min(down, fits)
    if down < 5 then
      state.direction = "up"
    end
  end
  if state.direction == "up" or remaining <= full + 1 then
    if full <= 0 then
      return remaining * 60
    end
    local minutes = math.max(1, math.min(remaining, full + 1))
    local id, info = client:charge_for(minutes, { limit = 100 })
    ctx.log(id and ("charging %s-%s"):format(info.start_time, info.end_time)
      or ("could not charge: " .. tostring(info)))
    return minutes * 60
  end
  local minutes = math.max(1, math.min(remaining, down + 1))
  local id, info = client:discharge_for(minutes, { limit = FLOOR })
  ctx.log(id and ("exporting %s-%s"):format(info.start_time, info.end_time)
    or ("could not discharge: " .. tostring(info)))
  return minutes * 60
end

return {
  name = "night cycles",
  run = function(client, ctx)
    local now = ctx.now
    local import, export = ctx.price(now)
    if not import then
      ctx.log("no tariff: nothing to decide")
      return nil
    end
    if ctx.first then
      local p = client:profile()
      if p and (p.profile ~= "self-consumption" or p.reserve ~= RESERVE) then
        client:set_profile("self-consumption", RESERVE)
      end
    end
    local left = block_end(ctx, now)
    local remaining = math.max(1, math.floor(left / 60))
    if import > cheapest_import(ctx, now) then
      state.direction = nil
      return left
    end
    local b = client:battery()
    if not (b and b.soc and b.capacity_kwh and b.max_kw and b.max_kw > 0) then
      ctx.log("no battery state: trying again in 5 minutes")
      return math.min(300, left)
    end
    if export * ROUND_TRIP > import then
      return cycle(client, ctx, b, remaining)
    end
    if b.soc < 99 then
      local minutes = math.min(1439, remaining)
      client:charge_for(minutes, { limit = 100 })
      return minutes * 60
    end
    return left
  end,
}
