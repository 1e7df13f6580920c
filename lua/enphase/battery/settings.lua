--- Battery settings: charge from grid, discharge to grid, restrict battery
-- discharge, profile and reserve, very-low state of charge, capabilities.
--
-- The seed's rule for every settings PUT: validate (isValid) first, wait
-- about a second, then PUT; a PUT without a fresh isValid answers 200 and
-- changes nothing, so every change is read back.
local api = require("enphase.transport.api")
local retry = require("enphase.transport.retry")
local validate = require("enphase.battery.validate")
local errors = require("enphase.errors")
local json = require("enphase.util.json")
local bounds = require("enphase.battery.bounds")

local M = {}

-- The `data` object of an answer; `required` names a field and its Lua type
-- that must be there, so that a wrong-shaped answer is never read as
-- "everything off".
local function data_of(body, what, label, required)
  local data = body.data
  local ok = type(data) == "table" and data[1] == nil
  if ok and required then
    ok = type(data[required[1]]) == required[2]
  end
  if not ok then
    return nil, ("%s: the answer has no %s data%s"):format(label, what,
      required and (" with a " .. required[2] .. " " .. required[1]) or ""), "protocol"
  end
  return data
end

-- A control's state: `enabled` of its object; a `null` control (seen on
-- live sites, e.g. `rbdControl: null`) is off; a missing one is unknown.
local function flag(control)
  if type(control) == "table" then
    return control.enabled == true
  elseif control == json.null then
    return false
  end
  return nil
end

-- What a control object says of its feature: `{show=, locked=,
-- schedule_supported=}` (each true, false or nil), or nil for no object.
local function capability(control)
  if type(control) ~= "table" then
    return nil
  end
  local function bool(v)
    if type(v) == "boolean" then
      return v
    end
    return nil
  end
  return { show = bool(control.show), locked = bool(control.locked),
           schedule_supported = bool(control.scheduleSupported) }
end

-- What a pending change asks for (`requestedConfig`): `{profile=,
-- reserve=, sub_type=}`, or nil when the answer has none.
local function requested(data)
  local r = data.requestedConfig
  if type(r) ~= "table" or type(r.profile) ~= "string" then
    return nil
  end
  local pct = r.batteryBackupPercentage
  return { profile = r.profile, reserve = type(pct) == "number" and pct or nil,
           sub_type = type(r.operationModeSubType) == "string" and r.operationModeSubType or nil }
end

-- The reads this module makes, one row each: what `read` needs to GET one
-- and check its answer. A new battery read is a row (and a function that
-- shapes its data). Fields:
-- * `op`: the C operation that GETs it;
-- * `what`: the answer in a failure message ("battery settings");
-- * `label`: the request in a failure message ("GET batterySettings");
-- * `required`: `{field, Lua type}` the `data` object must hold, so that a
--   wrong-shaped answer is never read as "everything off" (data_of);
-- * `shape(data, client)`: the reader's answer from the `data` object;
-- * `dry()`: what a dry-run client gets (default `{dry=true}`).
M.READS = {
  settings = {
    op = "settings_get",
    what = "battery settings",
    label = "GET batterySettings",
    required = { "chargeFromGrid", "boolean" },
    shape = function(data, client)
      local controls = {
        cfg = capability(data.cfgControl),
        dtg = capability(data.dtgControl),
        rbd = capability(data.rbdControl),
      }
      -- what each control says of its capability changes with the
      -- installation only: kept with the site's facts (and the token cache)
      if client.ctx.site:learn_controls(controls) then
        require("enphase.account.cache").changed(client)
      end
      return {
        charge_from_grid = data.chargeFromGrid == true,
        discharge_to_grid = flag(data.dtgControl),
        restrict_discharge = flag(data.rbdControl),
        profile = data.profile,
        reserve = data.batteryBackupPercentage,
        very_low_soc = data.veryLowSoc,
        bounds = {
          reserve = { bounds.range("reserve", data) },
          very_low_soc = { bounds.range("very_low_soc", data) },
        },
        controls = controls,
        raw = data,
      }
    end,
  },
  profile = {
    op = "profile_get",
    what = "profile",
    label = "GET profile",
    required = { "profile", "string" },
    shape = function(data)
      return {
        profile = data.profile,
        reserve = data.batteryBackupPercentage,
        pending = data.isBatteryChangePending == true,
        requested = data.isBatteryChangePending == true and requested(data) or nil,
        raw = data,
      }
    end,
  },
  site_settings = {
    op = "site_settings",
    what = "site settings",
    label = "GET siteSettings",
    shape = function(data, client)
      client.ctx.site:learn_capabilities(data)
      require("enphase.account.cache").changed(client)
      return data
    end,
    dry = function()
      return {} -- no flag known
    end,
  },
}

--- Reads `row` (see M.READS): the GET under the retry policy, its JSON,
-- its `data` object checked, then `row.shape(data, client)`. Returns that
-- or `nil, message, kind`.
function M.read(client, row)
  local body, err, kind = retry.json(client, row.op, nil, row.what)
  if not body then
    return nil, err, kind
  end
  if body.dry then
    return row.dry and row.dry() or body
  end
  local data
  data, err, kind = data_of(body, row.what, row.label, row.required)
  if not data then
    return nil, err, kind
  end
  return row.shape(data, client)
end

--- The current battery settings: `{charge_from_grid=, discharge_to_grid=,
-- restrict_discharge=, profile=, reserve=, very_low_soc=, bounds=,
-- controls=, raw=<data>}`; `raw` keeps every field the server sent. A
-- `null` control reads as off. `bounds` = `{reserve={lo, hi, from},
-- very_low_soc={lo, hi, from}}` (`from` "account" or "seed", bounds.lua);
-- `controls` = `{cfg=, dtg=, rbd=}`, each `{show=, locked=,
-- schedule_supported=}` when the answer has that control's object.
-- A dry-run client gets `{dry=true}`.
function M.settings(client)
  return M.read(client, M.READS.settings)
end

--- The site's capability flags (`raw` siteSettings data), fetched once per
-- client. A dry-run client gets `{}`: no flag known.
function M.site_settings(client)
  local known = client.ctx.site:capabilities()
  if known then
    return known
  end
  return M.read(client, M.READS.site_settings)
end

-- Refuses, before sending, a feature the site says it does not have. The
-- probe is best effort: the seed's flow never needs it, so when it fails
-- (404, 403, 5xx after the retries, an answer of the wrong shape...) that
-- is logged and the operation goes on; only a flag that is explicitly
-- false refuses.
local function require_feature(client, flag_name, feature)
  if flag_name == nil then
    return true
  end
  local site, err, kind = M.site_settings(client)
  if not site then
    client.ctx.log("warn", "capability probe failed (%s: %s); going on without it", kind, err)
    return true
  end
  if site[flag_name] == false then
    return errors.fail("unsupported", "%s is not supported by this site (%s is false)", feature,
      flag_name)
  end
  return true
end

-- A toggle's row: `which` names both its control object (require_control)
-- and its isValid mode; it is written as `{[name]=on}` (or as `change`
-- says) and reads back as the settings' `name`.
local function toggle_row(which, name, feature_flag, change)
  return {
    control = which,
    validate = which,
    name = name,
    feature_flag = feature_flag,
    change = change or function(on)
      return { [name] = on }
    end,
    read = function(s)
      return s[name]
    end,
  }
end

-- The settings this module writes, one row each: what `put_and_verify`
-- needs to write one and read it back. A new battery setting is a row (and
-- a function that checks its input). Fields:
-- * `name`: for the log and the failure message;
-- * `control`: the control object that must allow it (require_control), or
-- * `feature_flag`: the siteSettings flag that must not be false;
-- * `validate`: the isValid mode asked first, then the seed's delay (toggles);
-- * `op`: the C operation that writes it (default "settings_put");
-- * `change(value, now)`: the operation's arguments;
-- * `reader`: the read that shows it, "settings" (default) or "profile";
-- * `read(s)`: what that read shows, compared with `key(value)` (default: value);
-- * `pending`: the cloud may apply it later (the profile's isBatteryChangePending);
-- * `describe(value)`: the value in a failure message (default name(value)).
M.TOGGLES = {
  -- with the ITC disclaimer's time
  cfg = toggle_row("cfg", "charge_from_grid", "showChargeFromGrid", function(on, now)
    return { charge_from_grid = on, accepted_itc_at = now }
  end),
  dtg = toggle_row("dtg", "discharge_to_grid", "showDischargeToGrid"),
  rbd = toggle_row("rbd", "restrict_discharge", "showRestrictBatteryDischarge"),
}

-- Whether control `which` may be written, from the batterySettings'
-- control object first (`show`, `locked`) and siteSettings second (only
-- when the answer has no such object): a capture shows `showChargeFromGrid:
-- false` on EMEA sites whose `cfgControl.show` is true. A locked control
-- is refused before any write is sent. The read is best effort, like the
-- siteSettings probe: a failure is logged and the siteSettings flag decides.
local function require_control(client, which, spec)
  local controls = client.ctx.site:controls()
  if not controls then
    local now, err, kind = M.settings(client)
    if now and now.dry then
      return true -- planned: the read a run sends first
    end
    if not now then
      client.ctx.log("warn", "battery settings read failed (%s: %s); capability from siteSettings",
        kind, err)
    end
    controls = now and now.controls or {}
  end
  local control = controls[which]
  if not control then
    return require_feature(client, spec.feature_flag, spec.name)
  end
  local object = which .. "Control"
  if control.locked then
    return errors.fail("unsupported", "%s is locked on this site (%s.locked is true: the "
      .. "installer or utility holds it); nothing was sent", spec.name, object)
  end
  if control.show == false then
    return errors.fail("unsupported", "%s is not supported by this site (%s.show is false)",
      spec.name, object)
  end
  return true
end

-- The profile and its reserve, written together: value {profile=, reserve=}.
local PROFILE = {
  name = "profile",
  feature_flag = "showProfile",
  op = "profile_put",
  change = function(v)
    return { profile = v.profile, reserve = v.reserve }
  end,
  reader = "profile",
  read = function(p)
    return tostring(p.profile) .. " " .. tostring(p.reserve)
  end,
  key = function(v)
    return tostring(v.profile) .. " " .. tostring(v.reserve)
  end,
  pending = true,
  describe = function(v)
    return ("profile %s with reserve %d%%"):format(v.profile, v.reserve)
  end,
}

local VERY_LOW_SOC = {
  name = "very_low_soc",
  change = function(percent)
    return { very_low_soc = percent }
  end,
  read = function(s)
    return s.very_low_soc
  end,
  describe = function(percent)
    return ("very low SoC %d%%"):format(percent)
  end,
}

local function same(v)
  return v
end

-- A change the cloud keeps pending ("Updating..." for a long while): read
-- again every profile_interval seconds, at most profile_wait seconds in
-- all. Returns the last read (`pending` still true when it gave up) or
-- `nil, message, kind`.
local function wait_pending(client, row, now)
  local cfg = client.ctx.config
  local interval = cfg.profile_interval
  local checks = interval > 0 and math.ceil(cfg.profile_wait / interval) or 0
  local check = 0
  while now.pending and check < checks do
    check = check + 1
    api.wait(client, interval, "a pending profile change's next check")
    local err, kind
    now, err, kind = M[row.reader or "settings"](client)
    if not now then
      return nil, err, kind
    end
  end
  if now.pending then
    client.ctx.log("warn", "the profile change is still pending after %d s (enphase profile "
      .. "--cancel cancels it)", math.floor(check * interval))
  end
  return now
end

--- Writes `value` of the setting `row` (see M.TOGGLES) and reads it back:
-- the capability check, isValid and the seed's delay when the row asks, the
-- write under the retry policy (a retry starts again from isValid: the PUT
-- is never retried alone), then the read. Returns true and "applied",
-- "pending" (the cloud applies it later) or "dry run"; `nil, message,
-- "not_applied"` when the read does not show it.
function M.put_and_verify(client, row, value)
  local ok, ferr, fkind
  if row.control then
    ok, ferr, fkind = require_control(client, row.control, row)
  else
    ok, ferr, fkind = require_feature(client, row.feature_flag, row.name)
  end
  if not ok then
    return nil, ferr, fkind
  end
  local res, rerr, rkind = retry.run(client, function()
    if row.validate then
      local checked, e, k = api.send(client, "validate", { mode = row.validate })
      if not checked or checked.status >= 300 then
        return checked, e, k
      end
      api.wait(client, client.ctx.config.validate_delay,
        "the seed's delay between isValid and the PUT")
    end
    return api.send(client, row.op or "settings_put", row.change(value, client.ctx.clock()))
  end)
  if not res then
    return nil, rerr, rkind
  end
  local now, err, kind = M[row.reader or "settings"](client)
  if not now then
    return nil, err, kind
  end
  if now.dry then
    return true, "dry run"
  end
  if row.pending and now.pending then
    now, err, kind = wait_pending(client, row, now)
    if not now then
      return nil, err, kind
    end
    if now.pending then
      return true, "pending"
    end
  end
  local key = row.key or same
  if row.read(now) ~= key(value) then
    local what = row.describe and row.describe(value) or ("%s(%s)"):format(row.name, tostring(value))
    return errors.fail("not_applied", "%s not applied: the server answered %d but the setting "
      .. "is unchanged", what, res.status)
  end
  client.ctx.log("info", "%s set to %s", row.name, tostring(key(value)))
  return true, "applied"
end

--- Sets cfg, dtg or rbd to `on`: isValid, the seed's delay, PUT, read back.
function M.toggle(client, mode, on)
  local which, kerr = validate.mode("mode", mode)
  if not which then
    return nil, kerr, "input"
  end
  local value, err = validate.boolean("on", on)
  if value == nil then
    return nil, err, "input"
  end
  local ok, verr, vkind = M.put_and_verify(client, M.TOGGLES[which], on)
  if not ok then
    return nil, verr, vkind
  end
  return true
end

--- Turns charge from grid (CFG) on or off: `toggle(client, "cfg", on)`.
function M.charge_from_grid(client, on)
  return M.toggle(client, "cfg", on)
end

--- Turns discharge to grid (DTG) on or off: `toggle(client, "dtg", on)`.
function M.discharge_to_grid(client, on)
  return M.toggle(client, "dtg", on)
end

--- Turns restrict battery discharge (RBD) on or off: `toggle(client, "rbd", on)`.
function M.restrict_discharge(client, on)
  return M.toggle(client, "rbd", on)
end

--- `{profile=, reserve=, pending=, requested=, raw=}` from the profile
-- endpoint; `requested` (`{profile=, reserve=, sub_type=}`, the answer's
-- `requestedConfig`) while a change is pending. A dry-run client gets `{dry=true}`.
function M.profile(client)
  return M.read(client, M.READS.profile)
end

-- PUTs the profile and reserve (both checked), then reads them back.
-- `profile` nil: a dry run that could not read the current one.
local function put_profile(client, profile, percent)
  return M.put_and_verify(client, PROFILE, { profile = profile, reserve = percent })
end

-- The reserve checked against the account's range (its batterySettings'
-- batteryBackupPercentageMin/Max, read once here, best effort) else the
-- seed's 0-100; the reserve the cloud holds now is accepted unchanged.
local function checked_reserve(client, reserve)
  local percent, err = validate.integer("reserve", reserve, 0, 100)
  if not percent then
    return nil, err, "input"
  end
  local now, serr, skind = M.settings(client)
  if now and now.dry then
    return percent
  end
  if not now then
    client.ctx.log("warn", "battery settings read failed (%s: %s); the reserve is checked against "
      .. "0-100", skind, serr)
    return percent
  end
  percent, err = bounds.check("reserve", "reserve", reserve, now.raw, now.reserve)
  if not percent then
    return nil, err, "input"
  end
  return percent
end

--- Sets the profile and its backup reserve (percent). Returns true and
-- "applied" or "pending" (the cloud applies profile changes later).
function M.set_profile(client, name, reserve)
  local profile, err = validate.profile("profile", name)
  if not profile then
    return nil, err, "input"
  end
  local percent, kind
  percent, err, kind = checked_reserve(client, reserve)
  if not percent then
    return nil, err, kind
  end
  return put_profile(client, profile, percent)
end

--- Keeps the current profile and changes only the backup reserve.
function M.set_reserve(client, reserve)
  local percent, err, kind = checked_reserve(client, reserve)
  if not percent then
    return nil, err, kind
  end
  local now, perr, pkind = M.profile(client)
  if not now then
    return nil, perr, pkind
  end
  if now.dry then
    return put_profile(client, nil, percent)
  end
  local profile
  profile, err = validate.profile("the current profile", now.profile)
  if not profile then
    return nil, err, "protocol"
  end
  return put_profile(client, profile, percent)
end

--- Cancels a pending profile change; nothing pending is not an error.
-- Returns true and "cancelled" or "nothing pending".
function M.cancel_pending_profile(client)
  local res, err, kind, failed = retry.run(client, function()
    return api.send(client, "profile_cancel")
  end)
  if res then
    return true, res.dry and "dry run" or "cancelled"
  end
  if failed and failed.status == 409 then
    return true, "nothing pending"
  end
  return nil, err, kind
end

--- Sets the very-low state of charge (percent), within the site's range.
function M.set_very_low_soc(client, percent)
  local value, err = validate.integer("percent", percent, 0, 100)
  if not value then
    return nil, err, "input"
  end
  local now, serr, skind = M.settings(client)
  if not now then
    return nil, serr, skind
  end
  -- the account's veryLowSocMin/Max, else 0-100; the cloud's own value as it is
  value, err = bounds.check("percent", "very_low_soc", value, now.raw, now.very_low_soc)
  if not value then
    return nil, err, "input"
  end
  local ok, verr, vkind = M.put_and_verify(client, VERY_LOW_SOC, value)
  if not ok then
    return nil, verr, vkind
  end
  return true
end

return M
