--- Storm Guard: the battery charges fully ahead of severe weather.
--
-- Its state (`stormGuardState`, `evseStormEnabled`) is part of the profile;
-- the storm alerts have their own endpoint, as have the toggle and the
-- opt-out of one alert. Each request is a C operation (`profile_get`,
-- `storm_alerts_get`, `storm_guard_put`, `storm_alert_opt_out`: see
-- src/battery.c), so that a dry-run client shows the very requests a run
-- sends.
local compat = require("enphase.util.compat")
local retry = require("enphase.transport.retry")
local errors = require("enphase.errors")

local M = {}

local function is_ms(v)
  return type(v) == "number" and v == v and v > -1e15 and v < 1e15
end

-- One alert, in snake_case, keeping what the server sent as `raw`; nil
-- for an entry without an id.
local function parse_alert(a)
  if type(a) ~= "table" then
    return nil
  end
  local id = a.id
  if type(id) == "number" and compat.tointeger(id) then
    id = ("%d"):format(id)
  end
  if type(id) ~= "string" or id == "" then
    return nil
  end
  return {
    id = id,
    name = type(a.name) == "string" and a.name or nil,
    source = type(a.source) == "string" and a.source or nil,
    status = type(a.status) == "string" and a.status or nil,
    critical = a.critical == true,
    -- epoch seconds (the API's milliseconds / 1000)
    start_time = is_ms(a.startTime) and a.startTime / 1000 or nil,
    end_time = is_ms(a.endTime) and a.endTime / 1000 or nil,
    raw = a,
  }
end

--- The storm alerts: `{alerts={...}, critical_alert_active=, critical_alerts_override=}`.
local function alerts(client)
  local body, err, kind = retry.json(client, "storm_alerts_get", nil, "storm alerts")
  if not body then
    return nil, err, kind
  end
  if body.dry then
    return { alerts = {}, dry = true }
  end
  local list = body.stormAlerts
  if list ~= nil and type(list) ~= "table" then
    return errors.fail("protocol", "GET stormAlert: stormAlerts is not a list")
  end
  local out = {}
  for _, a in ipairs(list or {}) do
    out[#out + 1] = parse_alert(a)
  end
  return {
    alerts = out,
    critical_alert_active = body.criticalAlertActive == true,
    critical_alerts_override = body.criticalAlertsOverride == true,
  }
end

-- `enabled, ev` from the profile; for a dry-run client `"dry"` (nothing
-- is known).
local function state(client)
  local body, err, kind = retry.json(client, "profile_get", nil, "profile")
  if not body then
    return nil, err, kind
  end
  if body.dry then
    return "dry"
  end
  local data = body.data
  local s = type(data) == "table" and data.stormGuardState
  if s ~= "enabled" and s ~= "disabled" then
    return errors.fail("protocol", "GET profile: no stormGuardState (enabled or disabled)")
  end
  return s == "enabled", data.evseStormEnabled == true
end

--- `{enabled=, ev=, active=, alerts={ {id, name, source, status, critical,
-- start_time, end_time, raw}, ... }, critical_alert_active=,
-- critical_alerts_override=}`; `active` is true when an alert has the
-- status "active".
function M.storm_guard(client)
  local enabled, ev, kind = state(client)
  if enabled == nil then
    return nil, ev, kind
  end
  local t, err
  t, err, kind = alerts(client)
  if not t then
    return nil, err, kind
  end
  if enabled == "dry" then
    enabled, ev = nil, nil
  end
  t.enabled, t.ev, t.active = enabled, ev, false
  for _, a in ipairs(t.alerts) do
    if a.status == "active" then
      t.active = true
    end
  end
  return t
end

local function check_options(opts)
  if opts == nil then
    return {}
  elseif type(opts) ~= "table" then
    return nil, "options must be a table such as {ev = true} (got " .. type(opts) .. ")"
  end
  for k, v in pairs(opts) do
    if k ~= "ev" then
      return nil, ("unknown option %s (known: ev)"):format(tostring(k))
    elseif type(v) ~= "boolean" then
      return nil, ("ev must be true or false (got %s)"):format(tostring(v))
    end
  end
  return opts
end

--- Turns Storm Guard on or off; `opts.ev` also turns its charging of the
-- electric vehicle on or off (kept as it is when not given). Returns true,
-- or `"not_applied"` when the profile does not show the change.
function M.set_storm_guard(client, on, opts)
  if type(on) ~= "boolean" then
    return errors.fail("input", "on must be true or false (got %s)", tostring(on))
  end
  local checked, oerr = check_options(opts)
  if not checked then
    return nil, oerr, "input"
  end
  local ev = checked.ev
  if ev == nil then
    local known, current, kind = state(client)
    if known == nil then
      return nil, current, kind
    end
    if known ~= "dry" then
      ev = current
    end
  end
  local ok, err, kind = retry.json(client, "storm_guard_put", { enabled = on, ev = ev },
    "Storm Guard toggle")
  if not ok then
    return nil, err, kind
  end
  local now_on, now_ev
  now_on, now_ev, kind = state(client)
  if now_on == nil then
    return nil, now_ev, kind
  end
  if now_on == "dry" then
    return true
  end
  if now_on ~= on or now_ev ~= ev then
    return errors.fail("not_applied", "Storm Guard %s (EV %s) not applied: the profile shows %s "
      .. "(EV %s)", on and "on" or "off", ev and "on" or "off", now_on and "on" or "off",
      now_ev and "on" or "off")
  end
  client.ctx.log("info", "Storm Guard set to %s (EV %s)", on and "on" or "off", ev and "on" or "off")
  return true
end

--- A storm alert id as the API gives it.
function M.check_alert_id(id)
  if type(id) == "number" and compat.tointeger(id) and id > 0 then
    id = ("%d"):format(id)
  end
  if type(id) ~= "string" or not id:match("^[%w%-_.:]+$") or #id > 128 then
    return nil, ("id must be a storm alert id as listed: letters, digits, - _ . : (got %s)")
      :format(type(id) == "string" and ("%q"):format(id:sub(1, 40)) or tostring(id))
  end
  return id
end

--- Opts out of the storm alert `id` (Storm Guard then does not act on it).
-- The alert must be listed: its name goes with the request. Returns true,
-- or `"not_applied"` when the list does not show it opted out.
function M.opt_out_storm_alert(client, id)
  local checked, ierr = M.check_alert_id(id)
  if not checked then
    return nil, ierr, "input"
  end
  local t, err, kind = alerts(client)
  if not t then
    return nil, err, kind
  end
  local found
  for _, a in ipairs(t.alerts) do
    if a.id == checked then
      found = a
    end
  end
  if t.dry then
    found = { id = checked } -- its name is not known: the plan shows a placeholder
  elseif not found then
    local ids = {}
    for i, a in ipairs(t.alerts) do
      ids[i] = a.id
    end
    return errors.fail("input", "no storm alert with id %s (listed: %s); nothing was sent",
      checked, #ids > 0 and table.concat(ids, ", ") or "none")
  end
  local ok
  ok, err, kind = retry.json(client, "storm_alert_opt_out",
    { id = found.id, name = (not t.dry) and (found.name or "") or nil }, "storm alert opt-out")
  if not ok then
    return nil, err, kind
  end
  t, err, kind = alerts(client)
  if not t then
    return nil, err, kind
  end
  if t.dry then
    return true
  end
  for _, a in ipairs(t.alerts) do
    if a.id == checked and a.status ~= "opted-out" then
      return errors.fail("not_applied", "storm alert %s: still %s after the opt-out", checked,
        tostring(a.status))
    end
  end
  return true
end

return M
