-- The battery API under /service/batteryConfig/api/v1 (BC): the JWT / username
-- / site / XSRF rules shared by every endpoint, isValid, batterySettings,
-- siteSettings and profile. Schedules are in schedules.lua.
local compat = require("enphase.util.compat")
local http = require("enphase.sim.http")
local json = require("enphase.sim.json")

local M = {}

M.BC = "/service/batteryConfig/api/v1"
M.XSRF_COOKIE = "BP-XSRF-Token"

--- A Spring-style error body: {timestamp, status, error, path[, message]}.
function M.spring(st, req, status, message, headers)
  local body = {
    timestamp = st:iso_time(),
    status = status,
    error = http.reason(status),
    path = req.path,
  }
  if message then
    body.message = message
  end
  return http.json(status, body, headers)
end

function M.bad_request(st, req, message)
  req.note = message
  return M.spring(st, req, 400, message)
end

local function xsrf_cookie(token)
  return { "Set-Cookie", M.XSRF_COOKIE .. "=" .. token .. "; Path=/" }
end

--- The checks every BC endpoint makes, in this order: a known unexpired JWT
-- in e-auth-token (else 401), `username` equal to the JWT's user (else 403),
-- the site is the user's (else 403), the userId query parameter when
-- `opts.user_param` is "required" (or present, when "optional") (else 403),
-- and for POST/PUT the XSRF double submit (else 403 with a fresh cookie).
-- Returns the account, or nil and the error response.
function M.authorise(sim, req, site, opts)
  local st = sim.state
  opts = opts or {}
  local rec, why = st:jwt_lookup(req.headers["e-auth-token"])
  local acct = rec and st:account_by_user(rec.user_id)
  if not acct then
    req.note = "jwt " .. (why or "user gone")
    return nil, http.json(401, {
      timestamp = st:iso_time(), status = 401, error = "Unauthorized",
      message = "Unauthorized", path = req.path,
    })
  end
  local uid = string.format("%d", acct.user_id)
  if req.headers.username ~= uid then
    req.note = "username header does not match the token"
    return nil, M.spring(st, req, 403)
  end
  if site ~= string.format("%d", acct.site_id) then
    req.note = "not the user's site"
    return nil, M.spring(st, req, 403)
  end
  local u = req.params.userId
  if (opts.user_param == "required" and u ~= uid)
    or (opts.user_param == "optional" and u ~= nil and u ~= uid) then
    req.note = "userId parameter does not match"
    return nil, M.spring(st, req, 403)
  end
  if req.method == "POST" or req.method == "PUT" then
    local h = req.headers["x-xsrf-token"]
    local c = req.cookies[M.XSRF_COOKIE]
    -- xsrf = "header" (sites that give the token only in siteSettings'
    -- x-csrf-token header): the header alone counts, and a refusal sets no cookie
    local by_header = st.config.xsrf == "header"
    if not h or (h ~= c and not by_header) or not st:xsrf_ok(h, acct.user_id) then
      req.note = not h and "no x-xsrf-token" or (h ~= c and not by_header
        and "xsrf header/cookie differ") or "xsrf unknown"
      return nil, M.spring(st, req, 403, nil,
        not by_header and { xsrf_cookie(st:issue_xsrf(acct.user_id)) } or nil)
    end
  end
  st:settle(acct)
  return acct
end

local function decode_object(body)
  local v = json.decode(body or "")
  if type(v) ~= "table" or (#v > 0) then
    return nil
  end
  return v
end

M.decode_object = decode_object

--- Authorises a write and decodes its JSON object body: `acct, body`, or
-- `nil, response` (the 401/403, or a 400 for a body that is no object).
function M.authorised_body(sim, req, site, opts)
  local acct, err = M.authorise(sim, req, site, opts)
  if not acct then
    return nil, err
  end
  local body = decode_object(req.body)
  if not body then
    return nil, M.bad_request(sim.state, req, "malformed JSON body")
  end
  return acct, body
end

function M.is_valid(sim, req, site)
  local st = sim.state
  local acct, body = M.authorised_body(sim, req, site)
  if not acct then
    return body
  end
  local kind = type(body.scheduleType) == "string" and body.scheduleType:lower()
  if kind ~= "cfg" and kind ~= "dtg" and kind ~= "rbd" then
    return M.bad_request(st, req, "scheduleType must be cfg, dtg or rbd")
  end
  if kind == "cfg" and type(body.forceScheduleOpted) ~= "boolean" then
    return M.bad_request(st, req, "forceScheduleOpted is required for cfg")
  end
  acct.validated[kind] = st:now()
  return http.json(200, { isValid = true })
end

function M.get_settings(sim, req, site)
  local st = sim.state
  local acct, err = M.authorise(sim, req, site, { user_param = "required" })
  if not acct then
    return err
  end
  local headers = {}
  if st.config.xsrf ~= "header" and not st:xsrf_ok(req.cookies[M.XSRF_COOKIE], acct.user_id) then
    headers[1] = xsrf_cookie(st:issue_xsrf(acct.user_id))
  end
  return http.json(200, {
    type = "battery-details",
    timestamp = st:now_s(),
    data = st:settings_view(acct),
  }, headers)
end

local function iso_like(s)
  return type(s) == "string" and s:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d") ~= nil
end

local function control_change(body, name)
  local v = body[name]
  if type(v) ~= "table" or type(v.enabled) ~= "boolean" then
    return nil
  end
  return v.enabled
end

function M.put_settings(sim, req, site)
  local st = sim.state
  local acct, body = M.authorised_body(sim, req, site, { user_param = "required" })
  if not acct then
    return body
  end
  local s = acct.settings
  local changes = {}           -- { kind (nil = not gated), apply }
  if body.chargeFromGrid ~= nil then
    local on = body.chargeFromGrid
    if type(on) ~= "boolean" then
      return M.bad_request(st, req, "chargeFromGrid must be a boolean")
    end
    local disclaimer = body.acceptedItcDisclaimer
    if on and not iso_like(disclaimer) then
      return M.bad_request(st, req,
        "acceptedItcDisclaimer (YYYY-MM-DDTHH:MM:SS.mmmZ) is required to turn chargeFromGrid on")
    end
    changes[#changes + 1] = { "cfg", function()
      s.chargeFromGrid = on
      if iso_like(disclaimer) then
        s.acceptedItcDisclaimer = disclaimer
      end
    end }
  end
  for _, kind in ipairs({ "dtg", "rbd" }) do
    local name = kind .. "Control"
    if body[name] ~= nil then
      local on = control_change(body, name)
      if on == nil then
        return M.bad_request(st, req, name .. " must be {\"enabled\":true|false}")
      end
      changes[#changes + 1] = { kind, function()
        s[name].enabled = on
      end }
    end
  end
  if body.veryLowSoc ~= nil then
    local v = compat.tointeger(body.veryLowSoc)
    if not v or v < s.veryLowSocMin or v > s.veryLowSocMax then
      return M.bad_request(st, req, string.format("veryLowSoc must be an integer %d..%d",
        s.veryLowSocMin, s.veryLowSocMax))
    end
    changes[#changes + 1] = { nil, function()
      s.veryLowSoc = v
    end }
  end
  local ignored = {}
  for _, c in ipairs(changes) do
    if c[1] and not st:validated(acct, c[1]) then
      ignored[#ignored + 1] = c[1]
    else
      c[2]()
    end
  end
  if #ignored > 0 then
    req.note = "ignored (not validated): " .. table.concat(ignored, ",")
  end
  return http.json(200, { message = "success" })
end

local SITE_SETTINGS = {
  hasEncharge = true,
  hasEnpower = true,
  showChargeFromGrid = true,
  showDischargeToGrid = true,
  showRestrictBatteryDischarge = true,
  isIQGWScheduleSupported = true,
  showProfile = true,
  showBatteryBackupPercentage = true,
  showStormGuard = true,
  showSavingsMode = true,
  showFullBackup = true,
  isEmea = true,
  countryCode = "GB",
  locale = "en-GB",
}

function M.get_site_settings(sim, req, site)
  local st = sim.state
  local acct, err = M.authorise(sim, req, site, { user_param = "required" })
  if not acct then
    return err
  end
  local data = {}
  for k, v in pairs(SITE_SETTINGS) do
    data[k] = v
  end
  data.timezone = acct.timezone
  data.userId = acct.user_id
  data.siteId = acct.site_id
  if st.config.shape == "captured" then
    -- the flags real captures carry: no showDischargeToGrid,
    -- showRestrictBatteryDischarge or showProfile; showChargeFromGrid false
    -- on EMEA sites whose cfgControl.show is true
    data.showDischargeToGrid, data.showRestrictBatteryDischarge, data.showProfile = nil, nil, nil
    data.isDTSupported = true
    data.showChargeFromGrid = false
  end
  for k, v in pairs(st.config.site_settings) do
    data[k] = v
  end
  return http.json(200, { type = "site-settings", timestamp = st:now_s(), data = data },
    { { "x-csrf-token", st:issue_xsrf(acct.user_id, true) } })
end

function M.get_profile(sim, req, site)
  local st = sim.state
  local acct, err = M.authorise(sim, req, site, { user_param = "required" })
  if not acct then
    return err
  end
  return http.json(200, {
    type = "profile-details",
    timestamp = st:now_s(),
    data = st:profile_view(acct),
  })
end

local PROFILES = {
  ["self-consumption"] = true, cost_savings = true, backup_only = true, ai_optimisation = true,
}

function M.put_profile(sim, req, site)
  local st = sim.state
  local acct, body = M.authorised_body(sim, req, site, { user_param = "required" })
  if not acct then
    return body
  end
  if not PROFILES[body.profile] then
    return M.bad_request(st, req,
      "profile must be self-consumption, cost_savings, backup_only or ai_optimisation")
  end
  local pct = body.batteryBackupPercentage
  if pct == nil then
    pct = acct.profile.batteryBackupPercentage
  end
  pct = compat.tointeger(pct)
  if not pct or pct < 0 or pct > 100 then
    return M.bad_request(st, req, "batteryBackupPercentage must be an integer 0..100")
  end
  local sub = body.operationModeSubType
  if sub ~= nil and type(sub) ~= "string" then
    return M.bad_request(st, req, "operationModeSubType must be a string")
  end
  local wait = st.config.pending_seconds
  acct.pending_profile = {
    profile = body.profile,
    batteryBackupPercentage = pct,
    operationModeSubType = sub,
    apply_at = st:now() + wait,
  }
  st:settle(acct)
  return http.json(200, { message = "success", data = st:profile_view(acct) })
end

function M.cancel_profile(sim, req, site)
  local acct, err = M.authorise(sim, req, site, { user_param = "optional" })
  if not acct then
    return err
  end
  if not acct.pending_profile then
    local message = "There is no pending profile change to cancel"
    if sim.state.config.shape == "captured" then
      return http.json(409, { error = { status = "ALREADY_PROCESSED", message = message } })
    end
    return http.json(409, { code = "ALREADY_PROCESSED", message = message, status = 409 })
  end
  acct.pending_profile = nil
  return http.json(200, { message = "success" })
end

function M.routes(router)
  local BC = M.BC:gsub("%p", "%%%0")
  router:add("POST", BC .. "/battery/sites/([^/]+)/schedules/isValid", M.is_valid)
  router:add("GET", BC .. "/batterySettings/([^/]+)", M.get_settings)
  router:add("PUT", BC .. "/batterySettings/([^/]+)", M.put_settings)
  router:add("GET", BC .. "/siteSettings/([^/]+)", M.get_site_settings)
  router:add("GET", BC .. "/profile/([^/]+)", M.get_profile)
  router:add("PUT", BC .. "/profile/([^/]+)", M.put_profile)
  router:add("PUT", BC .. "/cancel/profile/([^/]+)", M.cancel_profile)
end

return M
