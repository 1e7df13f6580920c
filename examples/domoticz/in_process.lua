-- The in-process route, for comparison with enphase_battery.lua: a dzVents
-- script that calls lua-enphase directly (`require "enphase"`). It needs the
-- C module built for Domoticz's Lua 5.3, and every call BLOCKS Domoticz's
-- event thread: all dzVents scripts wait while it logs in or toggles (a
-- toggle is at least 1 s; a dead network costs `timeout` seconds per
-- attempt), and nothing can interrupt it. Prefer enphase_battery.lua, which
-- runs the `enphase` command in the background. If you use this anyway, keep
-- the limits below: a token cache (no login per event), a short timeout and
-- one attempt.
-- The e-mail and password come from the same private file the `enphase`
-- command reads (ENPHASE_EMAIL=..., ENPHASE_PASSWORD=..., chmod 600), never
-- from Domoticz user variables, which the web UI shows to every user. The
-- optional string user variable enphase_config names that file.
-- A failure is logged, never raised: the event engine keeps running.
local enphase = require("enphase")
local config = require("enphase.cli.config")

local CONFIG = "/home/pi/.config/enphase.conf"

local client -- kept while Domoticz keeps this Lua state; the token cache covers the rest

local function get_client(domoticz)
  if client then
    return client
  end
  local path = domoticz.utils.variableExists("enphase_config")
    and domoticz.variables("enphase_config").value or CONFIG
  -- the file's settings, and its token cache (else the default one under HOME)
  local opts, err = config.load({ config = path })
  if not opts then
    domoticz.log("enphase: " .. err .. " (input)", domoticz.LOG_ERROR)
    return nil
  end
  if not opts.token_cache then
    domoticz.log("enphase: no token cache (no HOME, and no ENPHASE_TOKEN_CACHE in " .. path
      .. "): the session and the lock-out guard last only while Domoticz runs", domoticz.LOG_ERROR)
  end
  opts.timeout, opts.attempts = 5, 1
  opts.log = function(level, line)
    domoticz.log("enphase " .. level .. ": " .. line, domoticz.LOG_INFO)
  end
  local kind
  client, err, kind = enphase.new(opts)
  if not client then
    domoticz.log(("enphase: %s (%s)"):format(err, kind), domoticz.LOG_ERROR)
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
