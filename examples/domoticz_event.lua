-- A dzVents event script for Domoticz: turns discharge-to-grid on in the
-- evening peak and off afterwards. Copy it into Domoticz's
-- scripts/dzVents/scripts/ folder, with lua-enphase installed for Lua 5.4.
-- A failure is logged, never raised: the event engine keeps running.
local enphase = require("enphase")

local client -- one client for the engine's lifetime: one login, one connection

local function get_client(domoticz)
  if not client then
    local err, kind
    client, err, kind = enphase.new({
      email = domoticz.variables("enphase_email").value,
      password = domoticz.variables("enphase_password").value,
      validate_delay = 1,
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
