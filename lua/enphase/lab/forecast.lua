--- `ctx.forecast(series, from, to)`: what a policy may know of the load, the
-- PV and the prices ahead, from the same series the simulated house runs on
-- (so perfect in the lab by default) or, against the account, from the CSV
-- files given to `enphase policy` (--load, --solar, --tariff).
--
-- It returns one entry per 15 minutes from `from` (rounded down to a
-- quarter hour) until `to` (epochs; at most 31 days): `{at=, watts=}` for
-- "load" and "solar", `{at=, import=, export=}` for "price", the mean over
-- the quarter. With a forecast error of E % every value is multiplied by
-- (1 + e), e drawn uniformly from [-E, +E] % by a generator with a fixed
-- seed, keyed on the series and the quarter: the same question always
-- gets the same answer, and a run is reproducible.
local M = {}

M.SLOT = 900
M.MAX_SPAN = 31 * 86400
M.SEED = 20260406

local KINDS = { load = "load", solar = "solar", pv = "solar", price = "tariff" }
local SALT = { load = 1, solar = 2, tariff = 3 }

-- A number in [0, 1) from the integer `key` (Park-Miller, a few rounds;
-- exact in doubles, no bitwise operators).
local function uniform(key)
  local x = (M.SEED + key * 7919) % 2147483647
  if x <= 0 then
    x = x + 2147483646
  end
  for _ = 1, 3 do
    x = x * 16807 % 2147483647
  end
  return (x - 1) / 2147483646
end

-- The mean of column `c` of series `s` over [t, t + SLOT) in `zone`.
local function slot_mean(s, zone, t, c)
  if s.step % M.SLOT == 0 and (s:at(zone, t) == s:at(zone, t + M.SLOT - 1)) then
    return s:at(zone, t)[c]
  end
  local sum = 0
  for m = 0, 14 do
    sum = sum + s:at(zone, t + m * 60)[c]
  end
  return sum / 15
end

--- The forecast function of a context in zone `zone`; `src` holds the
-- series (load, solar, tariff) and forecast_error (percent).
function M.new(zone, src)
  local err = (src.forecast_error or 0) / 100
  return function(which, from, to)
    local kind = KINDS[which]
    if not kind then
      error(("ctx.forecast: series %s: one of load, solar, price"):format(tostring(which)), 2)
    end
    local s = src[kind]
    if not s then
      error(("ctx.forecast: no %s series (enphase policy --%s CSV gives one)"):format(which,
        kind), 2)
    end
    if type(from) ~= "number" or type(to) ~= "number" or from ~= from or to ~= to
        or to < from or to - from > M.MAX_SPAN then
      error("ctx.forecast(series, from, to): epochs, from <= to, at most 31 days apart", 2)
    end
    local out = {}
    local t = from - from % M.SLOT
    while t < to do
      local slot = math.floor(t / M.SLOT)
      local noise = err > 0 and 1 + err * (2 * uniform(slot * 4 + SALT[kind]) - 1) or 1
      if kind == "tariff" then
        out[#out + 1] = { at = t, import = slot_mean(s, zone, t, "import") * noise,
                          export = slot_mean(s, zone, t, "export") * noise }
      else
        out[#out + 1] = { at = t, watts = slot_mean(s, zone, t, "watts") * noise }
      end
      t = t + M.SLOT
    end
    return out
  end
end

return M
