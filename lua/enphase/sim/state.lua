-- Everything the simulated cloud remembers: accounts (with their battery
-- settings, profile and schedules), web sessions, JWTs, XSRF tokens, the sim
-- clock, counters, the request log and the configuration. reset() brings it
-- all back to the state the command line described.
local compat = require("enphase.util.compat")
local socket = require("socket")
local json = require("enphase.sim.json")
local jwt = require("enphase.sim.jwt")
local house_mod = require("enphase.sim.house")
local tz = require("enphase.util.tz")

local M = {}

M.DEFAULT_ACCOUNT = {
  email = "demo@example.com",
  password = "demo-password",
  site_id = 5652514,
  user_id = 4980363,
  timezone = "Europe/London",
}

M.TYPES = { "cfg", "dtg", "rbd" }

local State = {}
State.__index = State

local function copy(v)
  if type(v) ~= "table" then
    return v
  end
  local t = {}
  for k, x in pairs(v) do
    t[k] = copy(x)
  end
  return setmetatable(t, getmetatable(v))
end
M.copy = copy

--- opts: accounts (array of account specs), jwt_ttl, validate_window,
-- pending_seconds.
function M.new(opts)
  local self = setmetatable({ initial = opts or {} }, State)
  self:reset()
  return self
end

function State:default_config()
  local o = self.initial
  return {
    jwt_ttl = o.jwt_ttl or 86400,
    validate_window = o.validate_window or 30,
    pending_seconds = o.pending_seconds or 0,
    login_page = "normal",
    site_settings = {},
    log_cap = 10000,
    shape = "seed",
    xsrf = "cookie",
  }
end

function State:reset()
  self.offset = 0
  self.frozen = nil
  self.house_config = nil       -- nil: house.DEFAULTS and the bundled week
  self.lab_rows = nil           -- enphase simulate's run of rows (rows_control.lua)
  self.config = self:default_config()
  self.accounts = {}
  self.by_email, self.by_user, self.by_site = {}, {}, {}
  self.sessions = {}
  self.jwts = {}
  self.xsrf = {}
  self.xsrf_header = {}
  self.counters = {
    logins = 0, login_attempts = 0, connections = 0, requests = 0, jwts_issued = 0,
  }
  self.log = {}
  self.log_first = 1
  self.seq = 0
  self.last_ms = 0
  self.schedule_seq = 0
  self.counted_conns = {}
  for _, spec in ipairs(self.initial.accounts or { M.DEFAULT_ACCOUNT }) do
    assert(self:add_account(spec))
  end
end

-- ---------------------------------------------------------------- clock

--- Sim clock: wall clock (or the moment it was frozen at) + offset, float
-- seconds.
function State:now()
  return (self.frozen or socket.gettime()) + self.offset
end

--- Stops (true) or restarts (false) the wall clock's part of now().
function State:freeze(on)
  local now = self:now()
  self.frozen = on and socket.gettime() or nil
  self.offset = now - (self.frozen or socket.gettime())
end

function State:now_s()
  return math.floor(self:now())
end

--- Strictly increasing epoch milliseconds (schedule createdAt/updatedAt).
function State:stamp_ms()
  local ms = math.floor(self:now() * 1000)
  if ms <= self.last_ms then
    ms = self.last_ms + 1
  end
  self.last_ms = ms
  return ms
end

function State:iso_time(t)
  t = t or self:now()
  local ms = math.floor((t % 1) * 1000)
  return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t)) .. string.format(".%03d+00:00", ms)
end

-- ---------------------------------------------------------------- accounts

local function default_settings()
  return {
    chargeFromGrid = false,
    chargeFromGridScheduleEnabled = false,
    chargeBeginTime = 120,
    chargeEndTime = 300,
    acceptedItcDisclaimer = json.null,
    batteryBackupPercentageMin = 0,
    batteryBackupPercentageMax = 100,
    veryLowSoc = 5,
    veryLowSocMin = 5,
    veryLowSocMax = 25,
    batteryGridMode = "ImportExport",
    stormGuardState = "disabled",
    evseStormEnabled = false,
    cfgControl = {
      show = true, enabled = false, locked = false, scheduleSupported = true,
      forceScheduleSupported = true, forceScheduleOpted = true,
    },
    dtgControl = {
      show = true, enabled = false, locked = false, scheduleSupported = true,
      startTime = 960, endTime = 1140,
    },
    rbdControl = {
      show = true, enabled = false, locked = false, scheduleSupported = true,
      startTime = 960, endTime = 1140,
    },
  }
end

local function check_int(v, name)
  if v == nil then
    return nil
  end
  local i = compat.tointeger(type(v) == "string" and tonumber(v) or v)
  if not i or i <= 0 then
    error(name .. " must be a positive integer", 0)
  end
  return i
end

--- Add an account, or update the one with the same e-mail. Returns the
-- account, or nil and a message.
function State:add_account(spec)
  if type(spec) ~= "table" then
    return nil, "account must be an object"
  end
  local ok, err = pcall(function()
    if type(spec.email) ~= "string" or spec.email == "" then
      error("email must be a non-empty string", 0)
    end
    for _, f in ipairs({ "password", "timezone" }) do
      if spec[f] ~= nil and type(spec[f]) ~= "string" then
        error(f .. " must be a string", 0)
      end
    end
    for _, f in ipairs({ "mfa", "locked" }) do
      if spec[f] ~= nil and type(spec[f]) ~= "boolean" then
        error(f .. " must be a boolean", 0)
      end
    end
  end)
  if not ok then
    return nil, err
  end
  local site_id, user_id
  ok, err = pcall(function()
    site_id = check_int(spec.site_id, "site_id")
    user_id = check_int(spec.user_id, "user_id")
  end)
  if not ok then
    return nil, err
  end
  local key = spec.email:lower()
  local acct = self.by_email[key]
  if site_id and self.by_site[site_id] and self.by_site[site_id] ~= acct then
    return nil, string.format("site_id %d belongs to another account", site_id)
  end
  if user_id and self.by_user[user_id] and self.by_user[user_id] ~= acct then
    return nil, string.format("user_id %d belongs to another account", user_id)
  end
  if not acct then
    local n = #self.accounts + 1
    acct = {
      email = spec.email,
      password = "password",
      site_id = site_id or (3000000 + n),
      user_id = user_id or (4000000 + n),
      timezone = "Europe/London",
      mfa = false,
      locked = false,
      settings = default_settings(),
      profile = { profile = "self-consumption", batteryBackupPercentage = 20 },
      schedules = {},
      validated = {},
      storm_alerts = {},
      mfa_state = {}, -- the multi-factor login's code, tries, block (mfa.lua)
    }
    if self.by_site[acct.site_id] or self.by_user[acct.user_id] then
      return nil, "site_id and user_id are required (defaults are taken)"
    end
    self.accounts[n] = acct
    self.by_email[key] = acct
  else
    if site_id then
      self.by_site[acct.site_id] = nil
      acct.site_id = site_id
    end
    if user_id then
      self.by_user[acct.user_id] = nil
      acct.user_id = user_id
    end
  end
  for _, f in ipairs({ "password", "timezone", "mfa", "locked" }) do
    if spec[f] ~= nil then
      acct[f] = spec[f]
    end
  end
  self.by_site[acct.site_id] = acct
  self.by_user[acct.user_id] = acct
  return acct
end

function State:account_by_email(email)
  return type(email) == "string" and self.by_email[email:lower()] or nil
end

function State:account_by_user(user_id)
  return self.by_user[user_id]
end

-- ---------------------------------------------------------------- sessions

function State:new_session()
  local s = { id = jwt.random_hex(16), tokens = {}, created = self:now() }
  self.sessions[s.id] = s
  return s
end

function State:session(id)
  return id and self.sessions[id] or nil
end

function State:drop_session(s)
  self.sessions[s.id] = nil
end

--- A fresh authenticity token bound to the session (Rails masks the token
-- on every render; every rendered token stays valid for the session).
function State:auth_token(s) -- luacheck: ignore 212/self
  local t = jwt.b64url(jwt.random_bytes(64))
  s.tokens[t] = true
  return t
end

--- The session's JWT, minted anew when there is none or it expired.
function State:session_jwt(s)
  local rec = s.jwt and self.jwts[s.jwt]
  if rec and rec.exp > self:now() then
    return s.jwt, rec
  end
  local acct = s.account
  local iat = self:now_s()
  local exp = iat + math.floor(self.config.jwt_ttl)
  local token = jwt.build({
    data = { user_id = acct.user_id, email = acct.email, session_id = s.id },
    iat = iat,
    exp = exp,
  })
  rec = { user_id = acct.user_id, exp = exp, iat = iat, session_id = s.id }
  self.jwts[token] = rec
  s.jwt = token
  self.counters.jwts_issued = self.counters.jwts_issued + 1
  return token, rec
end

--- Look up a JWT. Returns the record, or nil and "unknown"/"expired".
function State:jwt_lookup(token)
  local rec = token and self.jwts[token]
  if not rec then
    return nil, "unknown"
  end
  if rec.exp <= self:now() then
    return nil, "expired"
  end
  return rec
end

--- A new XSRF token of `user_id`; `from_header`: given in siteSettings'
-- x-csrf-token header (the only ones valid under config xsrf = "header").
function State:issue_xsrf(user_id, from_header)
  local t = jwt.uuid()
  self.xsrf[t] = user_id
  if from_header then
    self.xsrf_header[t] = true
  end
  return t
end

function State:xsrf_ok(token, user_id)
  return token ~= nil and self.xsrf[token] == user_id
    and (self.config.xsrf ~= "header" or self.xsrf_header[token] == true)
end

-- ---------------------------------------------------------------- log

function State:count_conn(conn_id)
  if not self.counted_conns[conn_id] then
    self.counted_conns[conn_id] = true
    self.counters.connections = self.counters.connections + 1
  end
end

function State:add_log(entry)
  self.seq = self.seq + 1
  entry.seq = self.seq
  self.log[self.seq] = entry
  local cap = math.max(1, math.floor(self.config.log_cap))
  while self.seq - self.log_first + 1 > cap do
    self.log[self.log_first] = nil
    self.log_first = self.log_first + 1
  end
  return entry
end

function State:log_entries(since)
  local out = json.array()
  local from = math.max(self.log_first, (since or 0) + 1)
  for i = from, self.seq do
    out[#out + 1] = self.log[i]
  end
  return out
end

function State:clear_log()
  self.log = {}
  self.log_first = self.seq + 1
end

-- ---------------------------------------------------------------- battery views

--- The account's house (house.lua), made on first use: it starts at the
-- local midnight of the day (so today's telemetry is complete) unless
-- `start` is given.
function State:house(acct, start)
  if not acct.house or start then
    local cfg = self.house_config
    if not cfg then
      cfg = assert(house_mod.check({}))
      self.house_config = cfg
    end
    local now = self:now()
    local t0 = start or tz.midnight(acct.timezone, now) or now - now % 86400
    acct.house = house_mod.new(cfg, acct, t0)
  end
  self:settle(acct)
  return acct.house
end

--- Apply what became due on the sim clock (pending profile changes), the
-- house running forward to each change first.
function State:settle(acct)
  local p = acct.pending_profile
  local h = acct.house
  local now = self:now()
  if h and p and p.apply_at <= now then
    h:advance(p.apply_at)
  end
  if p and now >= p.apply_at then
    acct.profile = {
      profile = p.profile,
      batteryBackupPercentage = p.batteryBackupPercentage,
      operationModeSubType = p.operationModeSubType,
    }
    acct.pending_profile = nil
  end
  if h then
    h:advance(now)
  end
end

function State:validated(acct, kind)
  local t = acct.validated[kind]
  local now = self:now()
  return t ~= nil and now - t <= self.config.validate_window and now >= t - 1
end

local function hhmm_minutes(s)
  local h, m = s:match("^(%d%d):(%d%d)$")
  return tonumber(h) * 60 + tonumber(m)
end

function State:sorted_schedules(acct, kind) -- luacheck: ignore 212/self
  local list = {}
  for _, s in ipairs(acct.schedules) do
    if kind == nil or s.scheduleType == kind:upper() then
      list[#list + 1] = s
    end
  end
  table.sort(list, function(a, b)
    if a.updatedAt ~= b.updatedAt then
      return a.updatedAt > b.updatedAt
    end
    return a.seq > b.seq
  end)
  return list
end

function State:schedule_detail(s)
  return {
    scheduleId = s.scheduleId,
    scheduleType = s.scheduleType,
    startTime = s.startTime,
    endTime = s.endTime,
    limit = s.limit,
    days = json.array(copy(s.days)),
    timezone = s.timezone,
    scheduleStatus = self:now() < s.pending_until and "pending" or "active",
    isEnabled = s.isEnabled,
    isDeleted = false,
    createdAt = string.format("%d", s.createdAt),
    updatedAt = string.format("%d", s.updatedAt),
  }
end

function State:schedules_view(acct)
  local out = { type = "BATTERY_SCHEDULES_CONFIG", anySchedulePending = false }
  for _, kind in ipairs(M.TYPES) do
    local details = json.array()
    local pending = false
    for _, s in ipairs(self:sorted_schedules(acct, kind)) do
      local d = self:schedule_detail(s)
      details[#details + 1] = d
      if d.scheduleStatus == "pending" then
        pending = true
      end
    end
    out[kind] = {
      scheduleStatus = pending and "pending" or "active",
      count = #details,
      details = details,
    }
    out.anySchedulePending = out.anySchedulePending or pending
  end
  return out
end

function State:settings_view(acct)
  self:settle(acct)
  local d = copy(acct.settings)
  d.profile = acct.profile.profile
  d.batteryBackupPercentage = acct.profile.batteryBackupPercentage
  d.cfgControl.enabled = d.chargeFromGrid
  local cfg = self:sorted_schedules(acct, "cfg")
  local enabled_cfg
  for _, s in ipairs(cfg) do
    if s.isEnabled then
      enabled_cfg = s
      break
    end
  end
  d.chargeFromGridScheduleEnabled = enabled_cfg ~= nil
  if enabled_cfg then
    d.chargeBeginTime = hhmm_minutes(enabled_cfg.startTime)
    d.chargeEndTime = hhmm_minutes(enabled_cfg.endTime)
  end
  for _, kind in ipairs({ "dtg", "rbd" }) do
    local s = self:sorted_schedules(acct, kind)[1]
    if s then
      d[kind .. "Control"].startTime = hhmm_minutes(s.startTime)
      d[kind .. "Control"].endTime = hhmm_minutes(s.endTime)
    end
  end
  if self.config.shape == "captured" and not d.rbdControl.enabled then
    d.rbdControl = json.null -- as live sites answer while RBD is off
  end
  return d
end

function State:profile_view(acct)
  self:settle(acct)
  local p, q = acct.profile, acct.pending_profile
  local requested = {}
  if q then
    requested = {
      profile = q.profile,
      batteryBackupPercentage = q.batteryBackupPercentage,
      operationModeSubType = q.operationModeSubType or json.null,
    }
  end
  return {
    profile = p.profile,
    batteryBackupPercentage = p.batteryBackupPercentage,
    operationModeSubType = p.operationModeSubType or json.null,
    isBatteryChangePending = q ~= nil,
    requestedConfig = requested,
    veryLowSoc = acct.settings.veryLowSoc,
    stormGuardState = acct.settings.stormGuardState,
    evseStormEnabled = acct.settings.evseStormEnabled,
  }
end

--- The account as /__sim/state shows it: `schedules` is the flat list of
-- details (all types, newest update first), `schedule_list` the listing the
-- API answers.
function State:account_view(acct)
  local validated = {}
  for kind, t in pairs(acct.validated) do
    validated[kind] = t
  end
  local schedules = json.array()
  for i, s in ipairs(self:sorted_schedules(acct)) do
    schedules[i] = self:schedule_detail(s)
  end
  return {
    email = acct.email,
    site_id = acct.site_id,
    user_id = acct.user_id,
    timezone = acct.timezone,
    mfa = acct.mfa,
    locked = acct.locked,
    settings = self:settings_view(acct),
    profile = self:profile_view(acct),
    schedules = schedules,
    schedule_list = self:schedules_view(acct),
    storm_alerts = json.array(copy(acct.storm_alerts)),
    mfa_blocked = acct.mfa_state.blocked_until ~= nil and self:now() < acct.mfa_state.blocked_until,
    validated = validated,
  }
end

return M
