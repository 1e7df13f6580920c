-- The in-process route, for comparison with enphase_battery.lua: a dzVents
-- script that calls lua-enphase directly (`require "enphase"`). It needs the
-- C module built for Domoticz's Lua 5.3, and every call BLOCKS Domoticz's
-- event thread: all dzVents scripts wait while it logs in or toggles (a
-- toggle is at least 1 s; a dead network costs `timeout` seconds per
-- attempt), and nothing can interrupt it. Prefer enphase_battery.lua, which
-- runs the `enphase` command in the background. If you use this anyway, keep
-- the limits below: a token cache (no login per event), a short timeout and
-- one attempt.
-- A failure is logged, never raised: the event engine keeps running.
local enphase = require("enphase")

local client -- kept while Domoticz keeps this Lua state; the token cache covers the rest

local function get_client(domoticz)
  if not client then
    local err, kind
    client, err, kind = enphase.new({
      email = domoticz.variables("enphase_email").value,
      password = domoticz.variables("enphase_password").value,
      token_cache = os.getenv("HOME") and (os.getenv("HOME") .. "/.cache/enphase-domoticz.json"),
      timeout = 5,
      attempts = 1,
      log = function(level, line)
        domoticz.log("enphase " .. level .. ": " .. line, domoticz.LOG_INFO)
      end,
    })
    if not client then
      domoticz.log(("enphase: %s (%s)"):format(err, kind), domoticz.LOG_ERROR)
    end
  end
  return client
end

-- Discharge to grid in the evening peak, off afterwards.
return {
  on = { timer = { "at 17:00", "at 20:00" } },
  execute = function(domoticz, timer)
    local c = get_client(domoticz)
    if not c then
      return
    end
    local on = timer.trigger == "at 17:00"
    local ok, err, kind = c:discharge_to_grid(on)
    if ok then
      domoticz.log("enphase: discharge to grid " .. (on and "on" or "off"), domoticz.LOG_INFO)
    else
      domoticz.log(("enphase: %s (%s)"):format(err, kind), domoticz.LOG_ERROR)
    end
  end,
}
