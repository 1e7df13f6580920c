--- The token lifecycle: log in only when needed, and as the lock-out guard allows.
--
-- A client is ready for API calls when it holds a fresh JWT (more than
-- `refresh_margin` seconds left, or half its life when that is shorter:
-- session.lua), knows its site and user ids, and has an XSRF token.
-- `ready` gets there with the fewest requests: a warm client sends none,
-- and loads none of login.lua (logging in and renewing).
local cache = require("enphase.account.cache")
local budget = require("enphase.account.budget")

local M = {}

-- Logging in and renewing (login.lua), loaded when a step needs them.
local function login()
  return require("enphase.account.login")
end

--- A web login through the lock-out guard; see login.lua's `login`.
function M.login(client, opts)
  return login().login(client, opts)
end

--- The XSRF token of siteSettings' `x-csrf-token` header; see login.lua.
function M.xsrf_from_site_settings(client, fallback)
  return login().xsrf_from_site_settings(client, fallback)
end

--- After the API refused the JWT (401): see login.lua's `renew_token`.
function M.renew_token(client)
  return login().renew_token(client)
end

--- After the API refused the XSRF token (403): see login.lua's `renew_xsrf`.
function M.renew_xsrf(client, fallback)
  return login().renew_xsrf(client, fallback)
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

--- Makes sure an XSRF token is held.
function M.ensure_xsrf(client)
  if client.ctx.session:info().has_xsrf then
    return true
  end
  return login().fetch_xsrf(client, "fetching an XSRF token")
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

return M
