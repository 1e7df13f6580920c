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
local tz = require("enphase.util.tz")

local M = {}

M.BUNDLED = {
  do_nothing = "enphase.lab.policies.do_nothing",
  fixed_window = "enphase.lab.policies.fixed_window",
  price_driven = "enphase.lab.policies.price_driven",
}

local function check(p, where)
  if type(p) ~= "table" or type(p.run) ~= "function" then
    return nil, where .. ": a policy returns a table {name=, run=function(client, ctx)}"
  end
  if p.name ~= nil and type(p.name) ~= "string" then
    return nil, where .. ": name must be a string"
  end
  return p
end

--- Loads a policy from a file, or a bundled one by name (do_nothing,
-- fixed_window, price_driven). Returns the policy or nil and a message.
function M.load(spec)
  if type(spec) ~= "string" or spec == "" then
    return nil, "a policy is a file name or one of do_nothing, fixed_window, price_driven"
  end
  local f = io.open(spec, "rb")
  if f then
    f:close()
    local chunk, err = loadfile(spec)
    if not chunk then
      return nil, err
    end
    local ok, p = pcall(chunk)
    if not ok then
      return nil, ("%s: %s"):format(spec, tostring(p))
    end
    return check(p, spec)
  end
  local module = M.BUNDLED[spec]
  if not module then
    return nil, ("no policy file %q, and no bundled policy of that name (do_nothing, "
      .. "fixed_window, price_driven)"):format(spec)
  end
  return check(require(module), spec)
end

--- The context of one call at epoch `now` in zone `zone`; `tariff` is a
-- series (enphase.sim.series) or nil; `log` receives lines; `first` marks
-- the first call.
function M.context(now, zone, tariff, log, first)
  local lt = assert(tz.local_time(zone, now))
  local ctx = {
    now = now,
    first = first == true,
    timezone = zone,
    time = { year = lt.year, month = lt.month, day = lt.day, hour = lt.hour, min = lt.min,
             wday = lt.wday, minute_of_day = lt.minute_of_day },
  }
  function ctx.price(at)
    if not tariff then
      return nil
    end
    local row = tariff:at(zone, at or now)
    return row.import, row.export
  end
  function ctx.seconds_until(hhmm)
    local h, m = tostring(hhmm):match("^(%d%d):(%d%d)$")
    assert(h and tonumber(h) < 24 and tonumber(m) < 60, "seconds_until wants HH:MM")
    local target = tonumber(h) * 60 + tonumber(m)
    local minutes = (target - lt.minute_of_day - 1) % 1440 + 1
    return minutes * 60 - lt.sec
  end
  function ctx.log(fmt, ...)
    if log then
      log(select("#", ...) > 0 and fmt:format(...) or fmt)
    end
  end
  return ctx
end

return M
