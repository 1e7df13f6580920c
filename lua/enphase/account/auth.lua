--- The token lifecycle: log in only when needed, and as the lock-out guard allows.
--
-- A client is ready for API calls when it holds a fresh JWT (more than
-- `refresh_margin` seconds left, or half its life when that is shorter:
-- session.lua), knows its site and user ids, and has an XSRF token.
-- `ready` gets there with the fewest requests: a warm client sends none.
local cache = require("enphase.account.cache")

local M = {}

local ledger = require("enphase.account.ledger")
local budget = require("enphase.account.budget")

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

-- An account that needs a one-time code, whose JWT is stale: a new JWT
-- from the web session of this process, when it still lives.
local function renew_from_web_session(client)
  local session = client.ctx.session
  if not (session:is_open() and session:info().has_jwt) then
    return false
  end
  local before = session:info().exp
  local exp = budget.call(client, 1, "refresh_jwt")
  if exp and exp ~= before and exp > client.ctx.clock() then
    client.ctx.log("info", "JWT renewed from the web session")
    cache.changed(client)
    return true
  end
  return false
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

--- Makes sure a fresh JWT is held (see session.renew_window); otherwise
-- logs in, when the lock-out guard allows it.
function M.ensure_token(client)
  local session = client.ctx.session
  if session:jwt_fresh(client.ctx.config.refresh_margin) then
    return true
  end
  local info = session:info()
  if info.has_jwt then
    client.ctx.log("info", "JWT expires at %d, within the renewal window", info.exp)
  end
  return M.login(client)
end

local function discover(client)
  local site = client.ctx.site
  local site_id, user_id = site:ids()
  if not site_id then
    local id, err, kind = budget.call(client, 2, "discover_site")
    if not id then
      return nil, err, kind
    end
    site:learn_ids(id, nil)
    client.ctx.log("info", "discovered site id %d", id)
  end
  if not user_id then
    local id, body_or_err, kind = budget.call(client, 1, "discover_user")
    if not id then
      return nil, body_or_err, kind
    end
    site:learn_ids(nil, id)
    site:learn_from_data(body_or_err)
    client.ctx.log("info", "discovered user id %d", id)
  end
  if not (site_id and user_id) then
    cache.changed(client)
  end
  return true
end

--- Makes sure the site and user ids are known (given, or discovered).
-- A web session that has expired meanwhile is renewed once.
function M.ensure_ids(client)
  local ok, err, kind = discover(client)
  if kind == "session" then
    ok, err, kind = M.login(client)
    if ok then
      ok, err, kind = discover(client)
    end
  end
  if kind == "session" then
    kind = "protocol"
  end
  return ok, err, kind
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

-- The isValid dance, and the cache told of the new token. When no cookie
-- came back (`protocol`), the siteSettings header's token instead.
local function fetch_xsrf(client, why, fallback)
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

--- Makes sure an XSRF token is held.
function M.ensure_xsrf(client)
  if client.ctx.session:info().has_xsrf then
    return true
  end
  return fetch_xsrf(client, "fetching an XSRF token")
end

--- The site's time zone: given, cached, or learnt from data.json (one
-- request, once). Nil when the site does not say; `nil, message, kind` when
-- it could not be asked (the login failed, the server is down).
function M.timezone(client)
  local site = client.ctx.site
  if not site:timezone() then
    local ok, err, kind = M.ready(client, true)
    if not ok then
      return nil, err, kind
    end
    local user, body
    user, body, kind = budget.call(client, 1, "discover_user")
    if not user then
      return nil, body, kind
    end
    if site:learn_from_data(body) then
      cache.changed(client)
    end
  end
  return site:timezone()
end

--- Token, ids and XSRF: everything an API call needs.
-- `without_xsrf`: a GET needs no XSRF token (the seed's poll sends none).
local function ready(client, without_xsrf)
  local ok, err, kind = M.ensure_token(client)
  if ok then
    ok, err, kind = M.ensure_ids(client)
  end
  if ok and not without_xsrf then
    ok, err, kind = M.ensure_xsrf(client)
  end
  return ok, err, kind
end

function M.ready(client, without_xsrf)
  return cache.guarded(client, false, ready, client, without_xsrf)
end

--- After the API refused the JWT (401): fetch a new JWT from the web
-- session first; when that gives nothing new, log in again.
function M.renew_token(client)
  local session = client.ctx.session
  local before = session:info().exp
  local exp = budget.call(client, 1, "refresh_jwt")
  if exp and exp ~= before and exp > client.ctx.clock() then
    client.ctx.log("info", "JWT renewed from the web session")
    cache.changed(client)
    return true
  end
  return M.login(client)
end

--- After the API refused the XSRF token (403): fetch a new one (isValid,
-- else siteSettings' header through `fallback`, see xsrf_from_site_settings).
function M.renew_xsrf(client, fallback)
  return fetch_xsrf(client, "XSRF token refused; fetching a new one", fallback)
end

return M
