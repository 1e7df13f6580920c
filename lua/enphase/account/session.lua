--- The account's session: its JWT, XSRF token and cookies, the verdict of
-- the last login, and the C session (`enphase.core`, libcurl) that sends
-- the requests.
--
-- The C session is created only when a request is needed. Until then a
-- session taken from the token cache is held here, so that a warm client
-- answers `status()` and `tokens()` without loading libcurl; the first
-- request creates the C session and hands it what is held.
--
-- Methods not defined here (`request`, `discover_site`, `fetch_xsrf`, and
-- whatever the C session offers) create the C session when needed and are
-- passed to it; a failure to create it is `nil, message, kind`.
--
-- One home each (doc/internals.md, "One home for the JWT and the ids"):
-- the JWT lives in this object's JWT record (`token`, `exp`, `issued`),
-- the ids in the site's facts (site.lua). The C session is handed both
-- tables when it is created and reads them when it builds a request; it
-- keeps no copy, and writes only the JWT record (a JWT received from the
-- server, or forgotten at a new login).
local compat = require("enphase.util.compat")
local native = require("enphase.transport.native")

local M = {}

local Session = {}

--- Seconds before its expiry at which a JWT is renewed: `margin`, or half
-- the JWT's life when that is shorter, so a JWT just issued is always
-- used. `issued` (when the JWT was received, by our clock) may be nil.
function M.renew_window(margin, exp, issued)
  if issued and exp > issued then
    return math.min(margin, (exp - issued) / 2)
  end
  return margin
end

--- True when a JWT expiring at `exp` is fresh enough to use at `now`.
function M.is_fresh(exp, issued, now, margin)
  return exp ~= nil and exp - now > M.renew_window(margin, exp, issued)
end

--- A session for the connection options `options` (those of `core.new`,
-- without the password and the ids). `site` is the site's facts,
-- `clock()` the client's clock, `log` the client's logger.
function M.new(options, password, site, clock, log)
  local self = {
    _base_url = options.base_url,
    _site = site,
    _clock = clock,
    _log = log,
    _c = nil, -- the C session, once created
    -- The JWT's one home: `token`, its `exp`, and when it was `issued`
    -- (received, by our clock); the C session reads and writes it too.
    _jwt = {},
    _held = nil, -- { xsrf=, cookies= } before the C session
    _generation = 0, -- changes of what is held, before the C session
    _base = 0, -- the C session's generation when it was created
    _closed = false,
  }
  local jwt = self._jwt
  -- The password stays in this closure until the C session has it.
  function self._create()
    local o = {}
    for k, v in pairs(options) do
      o[k] = v
    end
    o.password = password
    o.site, o.jwt = site, jwt -- read where they live: no copy
    local core = require("enphase.core")
    local c = core.new(o)
    password = nil
    return c
  end
  return setmetatable(self, Session)
end

-- Sets the JWT record's fields (`false` leaves one as it is).
local function set_jwt(self, token, exp, issued)
  local jwt = self._jwt
  if token ~= false then
    jwt.token, jwt.exp = token, exp
  end
  jwt.issued = issued
end

local function forget_jwt(self)
  set_jwt(self, nil, nil, nil)
end

--- The C session, created now when needed (it takes what is held).
-- Returns it, or `nil, message, kind`.
function Session:open()
  local c = self._c
  if c then
    return c
  end
  if self._closed then
    return nil, "the client is closed", "input"
  end
  c = self._create()
  self._c = c
  local held = self._held
  self._held = nil
  if held then
    local issued = self._jwt.issued
    local ok, err = c:import_state({ token = self._jwt.token, xsrf = held.xsrf, cookies = held.cookies })
    if ok then
      set_jwt(self, false, nil, issued)
    else
      -- Checked when it was taken: only a cookie line can still fail here.
      self._log("warn", "the cached session is not usable (%s): logging in afresh", err)
      forget_jwt(self)
      self._generation = self._generation + 1
    end
  end
  self._base = c:generation()
  return c
end

--- True once the C session exists (libcurl is loaded).
function Session:is_open()
  return self._c ~= nil
end

--- `{has_jwt=, exp=, has_xsrf=, requests=, site_id=, user_id=}`, no secrets.
function Session:info()
  local c = self._c
  local info
  if self._closed then
    info = { has_xsrf = false, requests = 0 }
  elseif c then
    info = c:info()
  else
    local h = self._held
    info = { has_xsrf = h ~= nil and h.xsrf ~= nil, requests = 0 }
  end
  info.has_jwt = self._jwt.token ~= nil
  info.exp = self._jwt.exp
  info.site_id, info.user_id = self._site:ids()
  return info
end

--- True when a JWT is held that is fresh enough to use (`M.is_fresh`).
function Session:jwt_fresh(margin)
  local info = self:info()
  return info.has_jwt and M.is_fresh(info.exp, self._jwt.issued, self._clock(), margin)
end

--- `{token=, xsrf=}`: secrets, for `client:tokens()` and the log's scrubber.
function Session:secrets()
  local c = self._c
  if self._closed then
    return {}
  elseif c then
    return c:secrets() -- its token read from the JWT record
  end
  local h = self._held or {}
  return { token = self._jwt.token, xsrf = h.xsrf }
end

--- A number that changes whenever the JWT, XSRF token or cookies change.
function Session:generation()
  local c = self._c
  if c and not self._closed then
    return self._generation + (c:generation() - self._base)
  end
  return self._generation
end

--- `{token=, exp=, xsrf=, cookies=, issued=}`: secrets, for the token cache.
function Session:export_state()
  local c = self._c
  local st
  if self._closed then
    return { cookies = {} }
  elseif c then
    st = c:export_state()
  else
    local h = self._held or { cookies = {} }
    st = { xsrf = h.xsrf, cookies = h.cookies }
  end
  local jwt = self._jwt
  st.token, st.exp = jwt.token, jwt.exp
  st.issued = jwt.token and jwt.issued
  return st
end

local function is_header_safe(s)
  return #s > 0 and #s <= 4096 and not s:find("[^\33-\126]")
end

--- Takes a session kept by the token cache: `{token=, xsrf=, cookies=,
-- issued=}` (the JWT's expiry is read from the JWT). Returns true, or
-- `nil, message, "input"` and changes nothing.
function Session:import_state(t)
  local exp, why = native.jwt_exp(t.token)
  if not exp then
    return nil, "the token: " .. why, "input"
  elseif t.xsrf ~= nil and not is_header_safe(t.xsrf) then
    return nil, "the XSRF token is not header-safe", "input"
  end
  local issued = compat.isinteger(t.issued) and t.issued or nil
  local c = self._c
  if c then
    local ok, err = c:import_state({ token = t.token, xsrf = t.xsrf, cookies = t.cookies })
    if not ok then
      return nil, err, "input"
    end
  else
    self._held = { xsrf = t.xsrf, cookies = t.cookies or {} }
    set_jwt(self, t.token, exp, nil)
    self._generation = self._generation + 1
  end
  set_jwt(self, false, nil, issued)
  return true
end

local XSRF_COOKIE = "BP-XSRF-Token"

-- The cookie lines `cookies` (Netscape format) with the XSRF cookie set to
-- `token`: its line's value replaced, or a line added for the host of the
-- other cookies (else of `base_url`).
local function with_xsrf_cookie(cookies, token, base_url)
  local out, domain, done = {}, nil, false
  for i, line in ipairs(cookies or {}) do
    local fields = {}
    for f in (line .. "\t"):gmatch("([^\t]*)\t") do
      fields[#fields + 1] = f
    end
    if #fields == 7 and fields[6] == XSRF_COOKIE then
      fields[7] = token
      line = table.concat(fields, "\t")
      done = true
    elseif #fields == 7 and not domain then
      domain = fields[1]:gsub("^#HttpOnly_", "")
    end
    out[i] = line
  end
  if not done then
    domain = domain or (base_url or ""):match("^%a+://([^/:]+)") or ""
    out[#out + 1] = table.concat({ domain, "FALSE", "/", "FALSE", "0", XSRF_COOKIE, token }, "\t")
  end
  return out
end

--- Takes `token` as the XSRF token (one from siteSettings' x-csrf-token
-- header): sent as the x-xsrf-token header and as the BP-XSRF-Token
-- cookie, which the C session follows. Returns true or `nil, message, kind`.
function Session:set_xsrf(token)
  if type(token) ~= "string" or not is_header_safe(token) then
    return nil, "the XSRF token is not header-safe", "protocol"
  end
  local c = self._c
  if self._closed then
    return nil, "the client is closed", "input"
  elseif not c then
    if not self._held then
      return nil, "no session to give an XSRF token to", "protocol"
    end
    local h = self._held
    self._held = { xsrf = token, cookies = with_xsrf_cookie(h.cookies, token, self._base_url) }
    self._generation = self._generation + 1
    return true
  end
  local st = c:export_state()
  local issued = self._jwt.issued
  local ok, err = c:import_state({ token = st.token, xsrf = token,
                                   cookies = with_xsrf_cookie(st.cookies, token, self._base_url) })
  if not ok then
    return nil, err, "protocol"
  end
  set_jwt(self, false, nil, issued)
  return true
end

local function jwt_received(self)
  set_jwt(self, false, nil, math.floor(self._clock()))
end

--- A full web login (C). What a refusal means for the next logins is the
-- lock-out guard's (lockout.lua).
function Session:login()
  local c, err, kind = self:open()
  if not c then
    return nil, err, kind
  end
  local ok
  ok, err, kind = c:login()
  if ok then
    jwt_received(self)
  end
  return ok, err, kind
end

--- Takes the cookies of a multi-factor login under way (kept between
-- processes by mfa.lua): they replace the C session's, whose tokens are
-- forgotten. Returns true or `nil, message, kind`.
function Session:resume_login(cookies)
  local c, err, kind = self:open()
  if not c then
    return nil, err, kind
  end
  local ok
  ok, err = c:import_state({ cookies = cookies }) -- no token: the record is emptied
  if not ok then
    return nil, err, "input"
  end
  forget_jwt(self)
  return true
end

--- A multi-factor login's code accepted: the JWT came with it (C).
function Session:mfa_validate(csrf, otp)
  local c, err, kind = self:open()
  if not c then
    return nil, err, kind
  end
  local ok
  ok, err, kind = c:mfa_validate(csrf, otp)
  if ok then
    jwt_received(self)
  end
  return ok, err, kind
end

--- A new JWT from the web session (C): `exp`, or `nil, message, kind`.
function Session:refresh_jwt()
  local c, err, kind = self:open()
  if not c then
    return nil, err, kind
  end
  local before = self._jwt.exp
  local exp
  exp, err, kind = c:refresh_jwt()
  if exp and exp ~= before then
    jwt_received(self)
  end
  return exp, err, kind
end

--- Closes the C session (when created) and forgets what is held. Idempotent.
function Session:close()
  self._closed = true
  self._held = nil
  forget_jwt(self)
  if self._c then
    self._c:close()
  end
end

function Session:__tostring()
  if self._closed then
    return "enphase.session (closed)"
  end
  local site_id = self._site:ids()
  return site_id and ("enphase.session (site %d)"):format(site_id) or "enphase.session (no site yet)"
end

-- Everything else is the C session's.
local forwarders = {}

Session.__index = function(_, name)
  local method = Session[name]
  if method ~= nil or type(name) ~= "string" or name:sub(1, 1) == "_" then
    return method
  end
  local f = forwarders[name]
  if not f then
    f = function(self, ...)
      local c, err, kind = self:open()
      if not c then
        return nil, err, kind
      end
      return c[name](c, ...)
    end
    forwarders[name] = f
  end
  return f
end

return M
