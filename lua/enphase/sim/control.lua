-- The control API under /__sim/ (never logged, never faulted, no auth), JSON
-- in and out. Errors are 400 {"ok":false,"error":"..."}.
--
--   GET  /__sim/log[?since=SEQ]  -> [ {seq, conn, method, path, query, headers,
--                                     cookies, body, status, time[, fault][, note]} ]
--   POST /__sim/log/clear        -> {"ok":true}
--   GET  /__sim/state            -> counters, clock, config, faults, accounts
--   POST /__sim/reset            -> {"ok":true}
--   POST /__sim/fault            {match, path?, method?, count?, action?, status?,
--                                 body?, size?, headers?, retry_after?, delay?, rst?}
--                                or {"clear":true}    -> {"ok":true,"pending":N}
--                                (see faults.lua for the actions)
--   POST /__sim/config           {jwt_ttl?, validate_window?, pending_seconds?,
--                                 login_page?, site_settings?, log_cap?, shape?, xsrf?}
--                                shape "seed" (default) or "captured": the
--                                bodies real accounts answer (shapes.lua);
--                                xsrf "cookie" (default: isValid sets the
--                                BP-XSRF-Token cookie) or "header" (only the
--                                siteSettings x-csrf-token header gives one)
--                                -> {"ok":true,"config":{...}}
--   POST /__sim/clock            {"advance":SECONDS} or {"offset":SECONDS} or
--                                {"at":EPOCH}, and/or {"freeze":true|false}
--                                (frozen, only advance/offset/at move it)
--                                -> {"ok":true,"now":T,"offset":S,"frozen":B}
--   GET  /__sim/house[?email=E][&since=EPOCH][&until=EPOCH][&rows=1]
--                                -> the house of E (default: the first account):
--                                {config, soc, energy_kwh, t, buckets=[...]};
--                                rows=1: {fields=[...], rows=[[...]...]} instead
--                                (compact, for enphase simulate's long runs)
--   POST /__sim/house            {load?, solar?, tariff? (CSV text), capacity_kwh?,
--                                 max_charge_kw?, max_discharge_kw?, efficiency?,
--                                 batteries?, initial_soc?, start? (epoch),
--                                 reserve?, very_low_soc? (set on every account)}
--                                -> every account's house made anew (house.lua)
--   POST /__sim/rows, GET /__sim/rows?until=EPOCH, POST /__sim/rows/close:
--                                a lab run's rows as CSV, made here
--                                (rows_control.lua; enphase simulate)
--   POST /__sim/account          {email, password?, site_id?, user_id?, mfa?,
--                                 locked?, timezone?} -> {"ok":true,"account":{...}}
--   POST /__sim/storm_alert      {email?, id?, name?, source?, critical?, status?,
--                                 start?, duration?} -> {"ok":true,"alert":{...}}
--                                add a storm alert to the account (default: the
--                                first), active from `start` (sim seconds, default
--                                now) for `duration` seconds (default 86400);
--                                {"clear":true, email?} removes them all
--   GET  /__sim/otp?email=E     -> {"ok":true,"code":C|null,"sent":N,"wrong":N,
--                                 "blocked":bool}: the one-time code Enlighten
--                                "sent" to an mfa account (mfa.lua)
--   POST /__sim/sessions/clear   {"email":E}? -> {"ok":true,"cleared":N}
--   POST /__sim/tokens/revoke    {jwt?, xsrf?, email?} -> {"ok":true,"jwts":N,"xsrf":N}
--                                forget the JWTs and/or XSRF tokens issued so far
--                                (of one account, or all; both when neither flag
--                                is given): a client holding one still thinks it
--                                valid and meets 401 / 403
--   POST /__sim/refuse           {"seconds":S} -> {"ok":true}, then the simulator
--                                closes its listening sockets and every connection
--                                for S seconds (0 < S <= 60): connection refused;
--                                the control API is unreachable meanwhile
--   POST /__sim/shutdown         -> {"ok":true}, then the simulator exits
local compat = require("enphase.util.compat")
local http = require("enphase.sim.http")
local json = require("enphase.sim.json")
local request_body = require("enphase.sim.request_body")
local router_mod = require("enphase.sim.router")

local M = {}

local function ok(t)
  t = t or {}
  t.ok = true
  return http.json(200, t)
end

local fail = request_body.fail

local LOGIN_PAGES = { normal = true, no_token = true, two_tokens = true, meta_only = true }

local CONFIG_CHECKS = {
  jwt_ttl = function(v)
    return type(v) == "number" and v > 0, "jwt_ttl must be a positive number of seconds"
  end,
  validate_window = function(v)
    return type(v) == "number" and v >= 0, "validate_window must be a number >= 0"
  end,
  pending_seconds = function(v)
    return type(v) == "number" and v >= 0, "pending_seconds must be a number >= 0"
  end,
  login_page = function(v)
    return LOGIN_PAGES[v] ~= nil, "login_page must be normal, no_token, two_tokens or meta_only"
  end,
  site_settings = function(v)
    return type(v) == "table", "site_settings must be an object"
  end,
  shape = function(v)
    return v == "seed" or v == "captured", "shape must be seed or captured"
  end,
  xsrf = function(v)
    return v == "cookie" or v == "header", "xsrf must be cookie or header"
  end,
  log_cap = function(v)
    return compat.tointeger(v) ~= nil and v >= 1, "log_cap must be a positive integer"
  end,
}

function M.log(app, req)
  local since = compat.tointeger(tonumber(req.params.since or ""))
  return http.json(200, app.state:log_entries(since))
end

function M.log_clear(app)
  app.state:clear_log()
  return ok()
end

function M.state(app, _, conn)
  local st = app.state
  local accounts = json.array()
  for i, a in ipairs(st.accounts) do
    accounts[i] = st:account_view(a)
  end
  local sessions, logged_in = 0, 0
  for _, s in pairs(st.sessions) do
    sessions = sessions + 1
    if s.account then
      logged_in = logged_in + 1
    end
  end
  local jwts = 0
  for _ in pairs(st.jwts) do
    jwts = jwts + 1
  end
  local c = st.counters
  local open = app.server and app.server:open_count() or 0
  if conn then
    open = open - 1           -- not the connection asking
  end
  return http.json(200, {
    logins = c.logins,
    login_attempts = c.login_attempts,
    connections = c.connections,
    accepted = app.server and app.server.accepted or 0,
    open_connections = open,
    requests = c.requests,
    jwts_issued = c.jwts_issued,
    now = st:now(),
    clock_offset = st.offset,
    config = st.config,
    faults = json.array(app.faults:pending()),
    sessions = sessions,
    logged_in_sessions = logged_in,
    jwts = jwts,
    log_seq = st.seq,
    accounts = accounts,
    tls_port = app.server and app.server.tls_port or nil,
    tls_failures = app.server and app.server.tls_failures or 0,
    refusing = app.server and app.server.refusing or false,
  })
end

function M.reset(app)
  app.state:reset()
  app.faults:clear()
  return ok()
end

function M.fault(app, req)
  local spec, refused = request_body.object(req)
  if not spec then
    return refused
  end
  if spec.clear then
    app.faults:clear()
    return ok({ pending = 0 })
  end
  local f, err = app.faults:add(spec)
  if not f then
    return fail(err)
  end
  return ok({ pending = #app.faults.list })
end

function M.config(app, req)
  local spec, refused = request_body.object(req)
  if not spec then
    return refused
  end
  for k, v in pairs(spec) do
    local check = CONFIG_CHECKS[k]
    if not check then
      return fail("unknown config key " .. tostring(k))
    end
    local good, msg = check(v)
    if not good then
      return fail(msg)
    end
  end
  local cfg = app.state.config
  for k, v in pairs(spec) do
    if k == "site_settings" then
      for name, value in pairs(v) do
        if value == json.null then
          cfg.site_settings[name] = nil
        else
          cfg.site_settings[name] = value
        end
      end
    elseif k == "log_cap" then
      cfg.log_cap = compat.tointeger(v)
    else
      cfg[k] = v
    end
  end
  return ok({ config = cfg })
end

function M.clock(app, req)
  local spec, refused = request_body.object(req)
  if not spec then
    return refused
  end
  local st = app.state
  if spec.freeze ~= nil then
    if type(spec.freeze) ~= "boolean" then
      return fail("freeze must be true or false")
    end
    st:freeze(spec.freeze)
  end
  if spec.at ~= nil then
    if type(spec.at) ~= "number" then
      return fail("at must be an epoch in seconds")
    end
    st.offset = st.offset + spec.at - st:now()
  elseif spec.advance ~= nil then
    if type(spec.advance) ~= "number" then
      return fail("advance must be a number of seconds")
    end
    st.offset = st.offset + spec.advance
  elseif spec.offset ~= nil then
    if type(spec.offset) ~= "number" then
      return fail("offset must be a number of seconds")
    end
    st.offset = spec.offset
  end
  return ok({ now = st:now(), offset = st.offset, frozen = st.frozen ~= nil })
end

M.house = require("enphase.sim.house_control").get
M.house_set = require("enphase.sim.house_control").set

function M.account(app, req)
  local spec, refused = request_body.object(req)
  if not spec then
    return refused
  end
  local acct, err = app.state:add_account(spec)
  if not acct then
    return fail(err)
  end
  return ok({ account = {
    email = acct.email, site_id = acct.site_id, user_id = acct.user_id,
    timezone = acct.timezone, mfa = acct.mfa, locked = acct.locked,
  } })
end

function M.otp(app, req)
  local st = app.state
  local acct = st:account_by_email(req.params.email)
  if not acct then
    return fail("no account " .. tostring(req.params.email))
  end
  local m = acct.mfa_state
  return ok({ code = m.code or json.null, sent = m.sent or 0, wrong = m.wrong or 0,
              blocked = m.blocked_until ~= nil and st:now() < m.blocked_until })
end

local ALERT_STATUSES = { active = true, ["opted-out"] = true, expired = true }

function M.storm_alert(app, req)
  local spec, refused = request_body.object(req)
  if not spec then
    return refused
  end
  local st = app.state
  local acct = spec.email == nil and st.accounts[1] or st:account_by_email(spec.email)
  if not acct then
    return fail("no account " .. tostring(spec.email))
  end
  if spec.clear then
    acct.storm_alerts = {}
    return ok({ alerts = 0 })
  end
  for _, k in ipairs({ "id", "name", "source", "status" }) do
    if spec[k] ~= nil and (type(spec[k]) ~= "string" or spec[k] == "") then
      return fail(k .. " must be a non-empty string")
    end
  end
  for _, k in ipairs({ "start", "duration" }) do
    if spec[k] ~= nil and type(spec[k]) ~= "number" then
      return fail(k .. " must be a number of seconds")
    end
  end
  if spec.critical ~= nil and type(spec.critical) ~= "boolean" then
    return fail("critical must be a boolean")
  end
  if spec.status and not ALERT_STATUSES[spec.status] then
    return fail("status must be active, opted-out or expired")
  end
  local start = spec.start or st:now()
  local alert = {
    id = spec.id or require("enphase.sim.jwt").uuid(),
    name = spec.name or "Severe Thunderstorm Warning",
    source = spec.source or "NWS",
    status = spec.status or "active",
    critical = spec.critical == true,
    startTime = math.floor(start * 1000),
    endTime = math.floor((start + (spec.duration or 86400)) * 1000),
  }
  for _, a in ipairs(acct.storm_alerts) do
    if a.id == alert.id then
      return fail("alert id " .. alert.id .. " exists")
    end
  end
  acct.storm_alerts[#acct.storm_alerts + 1] = alert
  return ok({ alert = alert })
end

function M.sessions_clear(app, req)
  local spec = request_body.object(req) or {}
  local st = app.state
  local n = 0
  for id, s in pairs(st.sessions) do
    if spec.email == nil or (s.account and s.account.email:lower() == tostring(spec.email):lower()) then
      st.sessions[id] = nil
      n = n + 1
    end
  end
  return ok({ cleared = n })
end

function M.tokens_revoke(app, req)
  local spec, refused = request_body.object(req)
  if not spec then
    return refused
  end
  for _, k in ipairs({ "jwt", "xsrf" }) do
    if spec[k] ~= nil and type(spec[k]) ~= "boolean" then
      return fail(k .. " must be true or false")
    end
  end
  local st = app.state
  local user
  if spec.email ~= nil then
    local acct = st:account_by_email(spec.email)
    if not acct then
      return fail("no account " .. tostring(spec.email))
    end
    user = acct.user_id
  end
  local both = spec.jwt == nil and spec.xsrf == nil
  local jwts, xsrfs = 0, 0
  if both or spec.jwt then
    for token, rec in pairs(st.jwts) do
      if user == nil or rec.user_id == user then
        st.jwts[token] = nil
        jwts = jwts + 1
      end
    end
  end
  if both or spec.xsrf then
    for token, uid in pairs(st.xsrf) do
      if user == nil or uid == user then
        st.xsrf[token] = nil
        xsrfs = xsrfs + 1
      end
    end
  end
  return ok({ jwts = jwts, xsrf = xsrfs })
end

function M.refuse(app, req, conn)
  local spec, refused = request_body.object(req)
  if not spec then
    return refused
  end
  local seconds = spec.seconds
  if type(seconds) ~= "number" or seconds <= 0 or seconds > 60 then
    return fail("seconds must be a number in (0, 60]")
  end
  -- closed before the answer leaves, so that nothing connecting after it
  -- can slip into the accept queue
  if app.server then
    app.server:refuse(seconds, conn)
  end
  local resp = ok({ seconds = seconds })
  resp.close = true
  return resp
end

function M.shutdown(app)
  local resp = ok()
  resp.close = true
  resp.after = function()
    if app.server then
      app.server:stop()
    end
  end
  return resp
end

local router = router_mod.new()
router:add("GET", "/__sim/log", M.log)
router:add("POST", "/__sim/log/clear", M.log_clear)
router:add("GET", "/__sim/state", M.state)
router:add("POST", "/__sim/reset", M.reset)
router:add("POST", "/__sim/fault", M.fault)
router:add("POST", "/__sim/config", M.config)
router:add("POST", "/__sim/clock", M.clock)
router:add("GET", "/__sim/house", M.house)
router:add("POST", "/__sim/house", M.house_set)
router:add("POST", "/__sim/rows", require("enphase.sim.rows_control").start)
router:add("GET", "/__sim/rows", require("enphase.sim.rows_control").take)
router:add("POST", "/__sim/rows/close", require("enphase.sim.rows_control").close)
router:add("POST", "/__sim/account", M.account)
router:add("POST", "/__sim/sessions/clear", M.sessions_clear)
router:add("POST", "/__sim/storm_alert", M.storm_alert)
router:add("GET", "/__sim/otp", M.otp)
router:add("POST", "/__sim/tokens/revoke", M.tokens_revoke)
router:add("POST", "/__sim/refuse", M.refuse)
router:add("POST", "/__sim/shutdown", M.shutdown)

function M.handle(app, req, conn)
  local handler, why = router:find(req.method, req.path)
  if not handler then
    return fail(why == "method" and "method not allowed" or "no such control endpoint",
      why == "method" and 405 or 404)
  end
  return handler(app, req, conn)
end

return M
