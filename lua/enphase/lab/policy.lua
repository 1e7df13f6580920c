--- Schedule policies: loading one, and the context it is called with.
--
-- A policy is a Lua file returning `{name=, run=function(client, ctx)}`.
-- `run` is called first at the start and then whenever it asks: it returns
-- the number of seconds until its next call (nil: never again). It acts
-- through `client`, the same API as against the real cloud. `ctx` holds:
--   ctx.now                 epoch seconds (the simulated clock, or the real one)
--   ctx.first               true on the first call
--   ctx.time                local time in the site's zone: {year, month, day,
--                           hour, min, wday (1 = Monday), minute_of_day}
--   ctx.timezone            the site's time zone
--   ctx.price(at)           import, export price per kWh at epoch `at`
--                           (nil when no tariff was given)
--   ctx.seconds_until("HH:MM")  seconds to the next such local time (> 0)
--   ctx.log(fmt, ...)       a line in the run's log
local compat = require("enphase.util.compat")
local tz = require("enphase.util.tz")
local forecast = require("enphase.lab.forecast")

local M = {}

M.BUNDLED = {
  do_nothing = "enphase.lab.policies.do_nothing",
  fixed_window = "enphase.lab.policies.fixed_window",
  price_driven = "enphase.lab.policies.price_driven",
  night_cycles = "enphase.lab.policies.night_cycles",
}

local function check(p, where)
  if type(p) ~= "table" or type(p.run) ~= "function" then
    return nil, where .. ": not a policy: a policy file returns a table {name=, "
      .. "run=function(client, ctx)} (a script that acts by itself is run with lua instead)"
  end
  if p.name ~= nil and type(p.name) ~= "string" then
    return nil, where .. ": name must be a string"
  end
  return p
end

--- Loads a policy from a file, or a bundled one by name (do_nothing,
-- fixed_window, price_driven, night_cycles). Returns the policy or nil and a message.
function M.load(spec)
  if type(spec) ~= "string" or spec == "" then
    return nil, "a policy is a file name or one of do_nothing, fixed_window, price_driven, night_cycles"
  end
  local f = io.open(spec, "rb")
  if f then
    f:close()
    local chunk, err = loadfile(spec)
    if not chunk then
      return nil, err
    end
    local ok, p = M.call({ run = chunk })
    if not ok then
      return nil, ("%s: %s"):format(spec, tostring(p))
    end
    return check(p, spec)
  end
  local module = M.BUNDLED[spec]
  if not module then
    return nil, ("no policy file %q, and no bundled policy of that name (do_nothing, "
      .. "fixed_window, price_driven, night_cycles)"):format(spec)
  end
  return check(require(module), spec)
end

--- Is `wait` (what a policy's run returned, not nil) a valid delay? nil, or
-- the message saying why not.
function M.check_wait(wait)
  if type(wait) ~= "number" or wait ~= wait or wait <= 0 or wait == math.huge then
    return ("the policy returned %s: seconds to its next call (> 0) or nil"):format(
      tostring(wait))
  end
  return nil
end

--- Calls `policy.run(client, ctx)` so that neither an error nor os.exit
-- escapes: true and what it returned, or false and a message.
function M.call(policy, client, ctx)
  local exit = os.exit
  local function refuse(code)
    error(("the policy called os.exit(%s): a policy returns instead"):format(
      tostring(code == nil and "" or code)), 2)
  end
  os.exit = refuse -- luacheck: ignore 122
  local ok, wait = compat.pcall(policy.run, client, ctx)
  os.exit = exit -- luacheck: ignore 122
  if not ok then
    return false, tostring(wait)
  end
  return true, wait
end

--- The context of one call at epoch `now` in zone `zone`; `src` holds the
-- series (`tariff`, `load`, `solar`: enphase.sim.series, or nil), `log`
-- (receives lines) and `forecast_error` (percent, default 0); `first`
-- marks the first call.
function M.context(now, zone, src, first)
  src = src or {}
  now = math.floor(now)
  local lt = assert(tz.local_time(zone, now))
  local ctx = {
    now = now,
    first = first == true,
    timezone = zone,
    time = { year = lt.year, month = lt.month, day = lt.day, hour = lt.hour, min = lt.min,
             wday = lt.wday, minute_of_day = lt.minute_of_day },
  }
  local tariff = src.tariff
  function ctx.price(at)
    if not tariff then
      error("ctx.price: no tariff (enphase policy --tariff CSV gives one)", 2)
    end
    local row = tariff:at(zone, at or now)
    return row.import, row.export
  end
  ctx.forecast = forecast.new(zone, src)
  function ctx.seconds_until(hhmm)
    local h, m = tostring(hhmm):match("^(%d%d):(%d%d)$")
    if not (h and tonumber(h) < 24 and tonumber(m) < 60) then
      error(("seconds_until wants HH:MM (got %s)"):format(tostring(hhmm)), 2)
    end
    -- today's, else the next day's, in local calendar days: right across
    -- clock changes (a time that does not exist that day is the instant
    -- the clock jumps over it)
    for ahead = 0, 2 do
      local t = tz.to_epoch(zone, lt.year, lt.month, lt.day + ahead, tonumber(h), tonumber(m), 0,
        { gap = "jump" })
      if t > now then
        return t - now
      end
    end
    error("seconds_until: no such time ahead", 2)
  end
  function ctx.log(fmt, ...)
    if src.log then
      src.log(select("#", ...) > 0 and fmt:format(...) or fmt)
    end
  end
  return ctx
end

return M
