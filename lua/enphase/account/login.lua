--- Logging in and renewing: the web login through the lock-out guard
-- (guard.lua, mfa.lua), a JWT renewed from the web session, and the XSRF
-- token fetched anew. auth.lua's ensure_* steps call these only when
-- something is missing or stale, so a warm start (a token cache holding a
-- fresh JWT, the ids and an XSRF token) never loads this file.
local cache = require("enphase.account.cache")
local ledger = require("enphase.account.ledger")
local budget = require("enphase.account.budget")

local M = {}

-- The web login itself (GET /login, POST /login/login, GET jwt_token.json).
local function password_login(client)
  client.ctx.log("info", "logging in to %s", client.ctx.config.base_url)
  local ok, err, kind = budget.call(client, 3, "login")
  if not ok then
    client.ctx.log("warn", "login failed (%s): %s", kind, err)
    return nil, err, kind
  end
  local exp = client.ctx.session:info().exp
  if exp <= client.ctx.clock() then
    client.ctx.log("warn", "the server gave a JWT that had already expired")
    return nil, ("login: the server gave a JWT that expired at %d (already past)"):format(exp),
      "protocol"
  end
  cache.changed(client)
  return true
end

-- Another process's login of a moment ago, taken from the token cache.
local function reuse(client)
  local store = client.ctx.store
  local t = store and store:read()
  if not t or t.token == client.ctx.session:secrets().token then
    return false
  end
  return store:load(client)
end

-- True when the web session gave a new JWT, later than the one held and
-- not already expired (and the cache was told).
local function jwt_refreshed(client)
  local before = client.ctx.session:info().exp
  local exp = budget.call(client, 1, "refresh_jwt")
  if exp and exp ~= before and exp > client.ctx.clock() then
    client.ctx.log("info", "JWT renewed from the web session")
    cache.changed(client)
    return true
  end
  return false
end

-- An account that needs a one-time code, whose JWT is stale: a new JWT
-- from the web session of this process, when it still lives.
local function renew_from_web_session(client)
  local session = client.ctx.session
  if not (session:is_open() and session:info().has_jwt) then
    return false
  end
  return jwt_refreshed(client)
end

--- A web login through the lock-out guard (guard.lua): refused while the
-- guard says so, or when the account needs a one-time code, unless
-- `opts.force` (an explicit login); a login of another process less than
-- `login_reuse` seconds old is taken instead. `opts.otp` and `opts.resend`
-- go on with a multi-factor login under way (mfa.lua), which a forced
-- login of such an account starts. Returns true or `nil, msg, kind`; a
-- refusal's message says when the next automatic attempt is allowed.
function M.login(client, opts)
  opts = opts or {}
  -- loaded here, not at start-up: a warm run never logs in
  local lockout, mfa = require("enphase.account.guard"), require("enphase.account.mfa")
  local fingerprint = client.ctx.fingerprint
  return ledger.update(client, function(t, save_now)
    local g = lockout.section(t)
    local now = client.ctx.clock()
    if opts.otp ~= nil or opts.resend then
      return mfa.continue(client, t, g, opts)
    end
    if not opts.force then
      local msg, kind = lockout.blocked(g, now, fingerprint)
      if kind == "mfa" and renew_from_web_session(client) then
        return false, true
      end
      if msg then
        client.ctx.log("warn", "login not tried: %s", msg)
        return false, nil, msg, kind
      end
      if lockout.recent(client.ctx.config, g, now) and reuse(client) then
        client.ctx.log("info", "reusing the login of %d s ago", now - g.ok_at)
        return false, true
      end
      -- Fail closed: an automatic login goes only when the guard can
      -- remember its outcome (a full disk would let every cron run try).
      g.trying_at = now
      local saved, why = save_now()
      if not saved then
        g.trying_at = nil
        local message = ("account store: the lock-out guard cannot be saved (%s): no automatic "
          .. "login until it can be; an explicit `enphase login` (client:login{force=true}) "
          .. "still logs in"):format(tostring(why))
        client.ctx.log("warn", "%s", message)
        return false, nil, message, "input"
      end
    end
    local ok, err, kind = password_login(client)
    now = client.ctx.clock()
    local dirty = lockout.record(client.ctx.config, g, now, ok, kind, err, fingerprint)
    if ok and g.mfa then
      g.mfa = nil -- a password alone was enough: the account no longer asks for a code
    elseif kind == "mfa" then
      g.mfa = true
      if opts.force then
        return true, select(2, mfa.start(client, t, err))
      end
    end
    if not ok and lockout.REFUSALS[kind] then
      err = lockout.refused_message(g, err, now)
    end
    return dirty, ok, err, kind
  end, true)
end

--- The XSRF token of siteSettings' `x-csrf-token` response header (GET
-- siteSettings; barneyonline/ha-enphase-energy #460 and PR #573: sites,
-- EMEA ones first, whose isValid answers 403 without a BP-XSRF-Token
-- cookie), taken as the session's. `fallback` (optional, one per write):
-- `{used=}`; a second call for the same write is refused. Returns true or
-- `nil, message, kind`.
function M.xsrf_from_site_settings(client, fallback)
  if fallback then
    if fallback.used then
      return nil, "the siteSettings XSRF fallback was already used for this write", "http"
    end
    fallback.used = true
  end
  client.ctx.log("info", "fetching an XSRF token from siteSettings' x-csrf-token header")
  local status, text, headers, label = budget.call(client, 1, "send", "site_settings")
  if not status then
    return nil, text, headers
  end
  label = label or "GET siteSettings"
  local token = status < 300 and type(headers) == "table" and headers["x-csrf-token"]
  if type(token) ~= "string" or token == "" then
    return nil, ("%s: HTTP %d without an x-csrf-token header: no XSRF token"):format(label,
      status), "protocol"
  end
  local ok, err, kind = client.ctx.session:set_xsrf(token)
  if not ok then
    return nil, ("%s: x-csrf-token: %s"):format(label, err), kind
  end
  cache.changed(client)
  return true
end

--- The isValid dance, and the cache told of the new token. When no cookie
-- came back (`protocol`), the siteSettings header's token instead. `why`
-- is logged first.
function M.fetch_xsrf(client, why, fallback)
  client.ctx.log("info", why)
  local ok, err, kind = budget.call(client, 1, "fetch_xsrf")
  if ok then
    cache.changed(client)
  elseif kind == "protocol" and not (fallback and fallback.used) then
    client.ctx.log("info", "%s", err)
    return M.xsrf_from_site_settings(client, fallback)
  end
  return ok, err, kind
end

--- After the API refused the JWT (401): fetch a new JWT from the web
-- session first; when that gives nothing new, log in again.
function M.renew_token(client)
  if jwt_refreshed(client) then
    return true
  end
  return M.login(client)
end

--- After the API refused the XSRF token (403): fetch a new one (isValid,
-- else siteSettings' header through `fallback`, see xsrf_from_site_settings).
function M.renew_xsrf(client, fallback)
  return M.fetch_xsrf(client, "XSRF token refused; fetching a new one", fallback)
end

return M
