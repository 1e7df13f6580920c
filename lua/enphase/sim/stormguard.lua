-- Storm Guard under BC: its state lives in the account's settings
-- (`stormGuardState`, `evseStormEnabled`, shown by batterySettings and
-- profile), the storm alerts in `acct.storm_alerts` (added through the
-- control API: POST /__sim/storm_alert).
local http = require("enphase.sim.http")
local json = require("enphase.sim.json")
local battery = require("enphase.sim.battery")

local M = {}

local BC = battery.BC

--- The alerts as the API lists them.
function M.view(acct)
  local list = json.array()
  for i, a in ipairs(acct.storm_alerts) do
    list[i] = {
      id = a.id, name = a.name, source = a.source, status = a.status,
      startTime = a.startTime, endTime = a.endTime, critical = a.critical,
    }
  end
  local critical = false
  for _, a in ipairs(acct.storm_alerts) do
    if a.critical and a.status == "active" then
      critical = true
    end
  end
  return { criticalAlertsOverride = true, stormAlerts = list, criticalAlertActive = critical }
end

function M.get_alerts(sim, req, site)
  local acct, err = battery.authorise(sim, req, site, { user_param = "optional" })
  if not acct then
    return err
  end
  return http.json(200, M.view(acct))
end

function M.toggle(sim, req, site)
  local st = sim.state
  local acct, body = battery.authorised_body(sim, req, site, { user_param = "required" })
  if not acct then
    return body
  end
  local state = body.stormGuardState
  if state ~= "enabled" and state ~= "disabled" then
    return battery.bad_request(st, req, "stormGuardState must be enabled or disabled")
  end
  if body.evseStormEnabled ~= nil and type(body.evseStormEnabled) ~= "boolean" then
    return battery.bad_request(st, req, "evseStormEnabled must be a boolean")
  end
  acct.settings.stormGuardState = state
  if body.evseStormEnabled ~= nil then
    acct.settings.evseStormEnabled = body.evseStormEnabled
  end
  return http.json(200, { message = "success" })
end

function M.opt_out(sim, req, site)
  local st = sim.state
  local acct, body = battery.authorised_body(sim, req, site)
  if not acct then
    return body
  end
  local list = body.stormAlerts
  if type(list) ~= "table" or #list == 0 then
    return battery.bad_request(st, req, "stormAlerts must be a non-empty list")
  end
  local found = {}
  for _, item in ipairs(list) do
    if type(item) ~= "table" or type(item.id) ~= "string" or item.status ~= "opted-out" then
      return battery.bad_request(st, req, "each storm alert needs an id and status opted-out")
    end
    local alert
    for _, a in ipairs(acct.storm_alerts) do
      if a.id == item.id then
        alert = a
      end
    end
    if not alert then
      req.note = "unknown storm alert"
      return battery.spring(st, req, 404, "storm alert not found")
    end
    found[#found + 1] = alert
  end
  for _, a in ipairs(found) do
    a.status = "opted-out"
  end
  return http.json(200, { message = "success" })
end

function M.routes(router)
  router:add("GET", BC .. "/stormGuard/([^/]+)/stormAlert", M.get_alerts)
  router:add("PUT", BC .. "/stormGuard/([^/]+)/stormAlert", M.opt_out)
  router:add("PUT", BC .. "/stormGuard/toggle/([^/]+)", M.toggle)
end

return M
