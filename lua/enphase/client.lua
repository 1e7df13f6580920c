--- The client object: one Enlighten account and site.
--
-- Who owns what (doc/internals.md, "State and its owners"): the client is
-- a facade over its context (`client.ctx`, context.lua); the options
-- (`ctx.config`, read-only once checked) and the injected sleep, clock,
-- random and logger are the client's; the JWT, XSRF token, cookies and the C
-- session are the session's (session.lua); the ids, time zone and
-- capability flags are the site's (site.lua); the file and its lock are
-- the token cache's (cache.lua). Each is changed only through its owner's
-- methods.
local compat = require("enphase.util.compat")
local native = require("enphase.transport.native")
local options = require("enphase.util.options")
local auth = require("enphase.account.auth")
local cache = require("enphase.account.cache")
local logger = require("enphase.util.log")
local site_facts = require("enphase.account.site")
local session_state = require("enphase.account.session")
local budget = require("enphase.account.budget")
local ledger = require("enphase.account.ledger")
local context = require("enphase.context")

local Client = {}
Client.__index = Client

-- The engine (transport/engine.lua) is loaded when an operation is started
-- or a sleep is asked for, not by a warm status() or tokens() (issue 14):
-- without it no operation exists, so no other one can hold the client.
local function engine()
  return require("enphase.transport.engine")
end

local function engine_sleep(seconds)
  return engine().sleep(seconds)
end

-- One operation at a time per client (engine.exclusive), once the engine
-- is loaded; a plain call before that goes straight through.
local function exclusive(fn)
  local wrapped
  return function(self, ...)
    if not wrapped then
      local loaded = package.loaded["enphase.transport.engine"]
      if not loaded then
        return fn(self, ...)
      end
      wrapped = loaded.exclusive(fn)
    end
    return wrapped(self, ...)
  end
end

local M = {}

--- Creates a client. Nothing is sent until the first call that needs it.
-- Returns the client, or `nil, message, "input"` for bad options.
function M.new(opts)
  local cfg, err = options.check(opts)
  if not cfg then
    return nil, err, "input"
  end
  local store, kind
  if cfg.token_cache then
    store, err, kind = cache.open(cfg)
    if not store then
      return nil, "option token_cache: " .. err, kind
    end
  end
  local password = cfg.password
  cfg.password = nil -- the session holds the only copy we send
  -- what the modules that act for this client read (context.lua)
  local ctx = context.new({
    config = cfg,
    sleep = cfg.sleep or engine_sleep, -- a timer inside operations
    clock = cfg.clock or native.now,
    random = cfg.random or math.random,
    site = site_facts.new(cfg),
    ledger = ledger.new(), -- the account's ledger when there is no token cache
    owned = {}, -- schedules this library created, when no token cache (owned.lua)
    dry = cfg.dry_run == true, -- send nothing; record the plans (api.lua)
    plans = {},
  })
  local session
  -- Every secret the client holds, for redact.scrub (log lines and
  -- failure messages): the password, the JWT, the XSRF token, cookie values.
  function ctx.secrets()
    local list = { password }
    if session then
      local held = session:secrets()
      list[#list + 1] = held.token
      list[#list + 1] = held.xsrf
      list[#list + 1] = held.csrf -- the login page's, kept for a multi-factor login
      for _, line in ipairs(session:export_state().cookies or {}) do
        list[#list + 1] = line:match("([^\t]*)$") -- Netscape format: the value is last
      end
    end
    return list
  end
  ctx.log = logger.new(cfg.log, ctx.secrets, cfg.log_level)
  -- The password's fingerprint for the lock-out guard (account/guard.lua): it
  -- remembers the password that failed by this, never by itself.
  function ctx.fingerprint(salt)
    return password and require("enphase.account.guard").fingerprint(password, salt)
  end
  session = session_state.new({
    base_url = cfg.base_url,
    email = cfg.email,
    user_agent = cfg.user_agent,
    timeout = cfg.timeout,
    connect_timeout = cfg.connect_timeout,
    ca_file = cfg.ca_file,
    verify_tls = cfg.verify_tls,
    max_body = cfg.max_body,
  }, password, ctx.site, ctx.clock, ctx.log)
  ctx.session = session
  local self = setmetatable({ ctx = ctx }, Client)
  if store then
    ctx.store = store
    store:load(self)
    if not ctx.dry and store.seen_version ~= cache.VERSION and store:has_legacy() then
      store:update(ctx.log, function() -- the older files, folded in once
        return false
      end)
    elseif not ctx.dry then
      store:write_back(ctx.log)
    end
    if ctx.dry then
      ctx.store = nil -- read for the ids it knows; never written, never locked
      ctx.read_only_store = store -- the schedules this library created (owned.lua)
    end
  end
  return self
end

--- A dry-run client's record (option `dry_run`): the requests its calls
-- would have sent, in order, each a plan `{op=, method=, url=, path=,
-- query=, body=, headers=}` (session:plan: secrets redacted, unknown ids
-- as placeholders), and the seed's waits as `{wait=seconds, why=}`.
function Client:plans()
  local out = {}
  for i, step in ipairs(self.ctx.plans) do
    out[i] = step
  end
  return out
end

local function login(self, opts)
  local ok, err, kind, extra = auth.login(self, opts)
  if ok then
    ok, err, kind = auth.ensure_ids(self)
  end
  if ok then
    ok, err, kind = auth.ensure_xsrf(self)
  end
  return ok, err, kind, extra
end

--- Logs in now, discovers the ids that were not given, and fetches the XSRF
-- token. Returns true or `nil, msg, kind`. The lock-out guard applies (a
-- login of another process a moment ago is reused; none while the guard
-- says so) unless `opts.force` is true: an explicit, human decision. For
-- an account with multi-factor authentication a forced login has a
-- one-time code sent (`nil, msg, "mfa", "sent"`); `opts.otp` (the code, a
-- string of digits) completes it, `opts.resend` asks for a new code.
function Client:login(opts)
  if opts ~= nil and type(opts) ~= "table" then
    return nil, "client:login: options must be a table ({force=, otp=, resend=})", "input"
  end
  for k, v in pairs(opts or {}) do
    if k ~= "force" and k ~= "otp" and k ~= "resend" then
      return nil, ("client:login: unknown option %s (known: force, otp, resend)"):format(
        tostring(k)), "input"
    elseif (k == "force" or k == "resend") and type(v) ~= "boolean" then
      return nil, ("client:login: %s must be true or false"):format(k), "input"
    end
  end
  if self.ctx.dry then
    return nil, "a dry-run client sends nothing: no login", "input"
  end
  return cache.guarded(self, true, login, self, opts)
end

local function ensure_state(self)
  local ok, err, kind = auth.ensure_token(self)
  if ok then
    ok, err, kind = auth.ensure_ids(self)
  end
  if not ok then
    return nil, err, kind
  end
  local partial = false
  ok, err, kind = auth.ensure_xsrf(self)
  if not ok then
    if kind ~= "protocol" then
      return nil, err, kind
    end
    self.ctx.log("warn", "no XSRF token: %s", err)
    partial = true
  end
  local site_id, user_id = self.ctx.site:ids()
  return {
    status = partial and "PARTIAL" or "OK",
    exp = self.ctx.session:info().exp,
    site_id = site_id,
    user_id = user_id,
    budget = budget.usage(self),
  }
end

-- The state, inside the cache's guard (a login it needs is shared).
local function state(self)
  if self.ctx.dry then
    return nil, "a dry-run client sends nothing: no status", "input"
  end
  return cache.guarded(self, false, ensure_state, self)
end

--- `{status="OK"|"PARTIAL", exp=, site_id=, user_id=, budget={used=, limit=,
-- window=}}`; no secrets.
-- A client whose JWT is fresh sends no request at all.
function Client:status()
  return state(self)
end

--- The seed script's JSON shape, secrets included (only by this explicit
-- call): `{status, token, xsrf, exp, user_id, battery_id}`.
function Client:tokens()
  local st, err, kind = state(self)
  if not st then
    return nil, err, kind
  end
  local secrets = self.ctx.session:secrets()
  return {
    status = st.status,
    token = secrets.token,
    xsrf = secrets.xsrf or "",
    exp = st.exp,
    user_id = st.user_id,
    battery_id = st.site_id,
  }
end

--- The site's time zone, when given or learnt from data.json.
function Client:timezone()
  return self.ctx.site:timezone()
end

--- The site's time zone (an IANA name such as "Europe/Paris"): the one
-- given (option `timezone`) or kept in the token cache, else learnt from
-- the site (one request, then kept). Returns the name or `nil, message,
-- kind`; a dry-run client sends nothing, so it knows only a given or
-- cached zone ("input" otherwise).
function Client:site_timezone()
  local zone, err, kind
  if self.ctx.dry then
    zone = self.ctx.site:timezone()
    err, kind = "a dry-run client sends nothing: the site's time zone is not known "
      .. "(give option timezone)", "input"
  else
    zone, err, kind = auth.timezone(self)
    if not zone and not err then
      err, kind = "the site does not say its time zone (give option timezone)", "protocol"
    end
  end
  if not zone then
    return nil, err, kind
  end
  return zone
end

--- The client's clock: seconds since the epoch, from the `clock` option
-- when one was given (a virtual clock in `enphase simulate`), else the
-- wall clock. Policies read the time here.
function Client:now()
  return self.ctx.clock()
end

--- Waits `seconds` with the client's own sleep: the `sleep` option when
-- given, else a timer inside an engine operation and a plain sleep outside.
function Client:sleep(seconds)
  return self.ctx.sleep(seconds)
end

--- Releases the connection and clears the password. Idempotent.
function Client:close()
  if not self._closed then
    cache.changed(self) -- cookies the server rotated since the last save
    self._closed = true
    self.ctx.session:close()
  end
end

Client.__close = Client.close

function Client:__tostring()
  if self._closed then
    return "enphase.client (closed)"
  end
  local site = self.ctx.site:ids()
  return site and ("enphase.client (site %d)"):format(site) or "enphase.client (site unknown)"
end

-- A failure message may carry a server's words, which may echo what the
-- session holds: every public method's messages go through redact.scrub
-- (the one scrubbing place), failure lists' messages included.
local NOT_SCRUBBED = { close = true, timezone = true }

local function scrub_results(client, r)
  local secrets
  local function scrub(text)
    secrets = secrets or client.ctx.secrets()
    return require("enphase.util.redact").scrub(text, secrets)
  end
  if r[1] == nil and type(r[2]) == "string" then
    r[2] = scrub(r[2])
  end
  for i = 1, r.n do
    local v = r[i]
    if type(v) == "table" and getmetatable(v) == nil and type(v[1]) == "table" then
      for _, item in ipairs(v) do
        if type(item) == "table" and type(item.message) == "string" then
          item.message = scrub(item.message)
        end
      end
    end
  end
  return compat.unpack(r, 1, r.n)
end

-- Every public function of `methods`, its results scrubbed.
local function scrubbed(methods)
  for name, fn in pairs(methods) do
    if type(fn) == "function" and not name:match("^_") and not NOT_SCRUBBED[name] then
      methods[name] = function(self, ...)
        return scrub_results(self, compat.pack(fn(self, ...)))
      end
    end
  end
  return methods
end

scrubbed(Client)

-- Non-blocking use: client:start, client:poll, and one operation at a time
-- per client (engine.lua). Keep this after every method definition above.
local NOT_EXCLUSIVE = { close = true, timezone = true }

local function add_methods(methods)
  for name, fn in pairs(methods) do
    if type(fn) == "function" and not name:match("^_") and not NOT_EXCLUSIVE[name] then
      fn = exclusive(fn)
    end
    Client[name] = fn
  end
end

add_methods(Client)

--- `client:start(name, ...)`: `client[name](client, ...)` as an operation
-- (see `enphase.spawn`).
function Client:start(name, ...)
  local method = type(name) == "string" and not name:match("^_") and not NOT_EXCLUSIVE[name]
    and name ~= "start" and name ~= "poll" and Client[name]
  if type(method) ~= "function" then
    error("client:start: no client method called " .. tostring(name), 2)
  end
  local args = compat.pack(...)
  return engine().spawn(function()
    return method(self, compat.unpack(args, 1, args.n))
  end)
end

--- `client:poll(timeout)`: the same as `enphase.poll(timeout)`.
function Client:poll(timeout) -- luacheck: ignore self
  return engine().poll(timeout)
end

-- The methods that live in their own files, one line each (method = its
-- module): a module is loaded at the first call of one of its methods, so
-- a warm `status()` or `tokens()` (the CLI's most frequent start) does not
-- pay for them. Add a method here, not above.
local LAZY_METHODS = {
  settings = "enphase.battery.settings", -- answered from the ledger (max_age)
  profile = "enphase.battery.settings", -- answered from the ledger (max_age)
  site_settings = "enphase.battery.settings",
  toggle = "enphase.battery.settings",
  charge_from_grid = "enphase.battery.settings",
  discharge_to_grid = "enphase.battery.settings",
  restrict_discharge = "enphase.battery.settings",
  set_profile = "enphase.battery.settings",
  set_reserve = "enphase.battery.settings",
  cancel_pending_profile = "enphase.battery.settings",
  set_very_low_soc = "enphase.battery.settings",
  schedules = "enphase.battery.schedules",
  add_schedule = "enphase.battery.timed", -- our ended timed windows removed first
  update_schedule = "enphase.battery.schedules",
  delete_schedule = "enphase.battery.schedules",
  delete_schedules = "enphase.battery.schedules",
  disable = "enphase.battery.schedules",
  charge_for = "enphase.battery.timed",
  discharge_for = "enphase.battery.timed",
  own_schedules = "enphase.battery.timed",
  remove_expired = "enphase.battery.timed",
  battery = "enphase.battery.telemetry",
  energy = "enphase.battery.telemetry",
  storm_guard = "enphase.battery.stormguard",
  set_storm_guard = "enphase.battery.stormguard",
  opt_out_storm_alert = "enphase.battery.stormguard",
}

-- The slow-changing reads, answered from the ledger while younger than max_age.
local CACHED_READS = { settings = true, profile = true }

-- Puts method `name` of `module` into the class (scrubbed, exclusive) the
-- first time it is called, and calls it.
local function lazy_method(name, module)
  return function(self, ...)
    local fn = require(module)[name]
    if CACHED_READS[name] then
      fn = require("enphase.account.reads").cached(name, fn)
    end
    add_methods(scrubbed({ [name] = fn }))
    return Client[name](self, ...)
  end
end

for name, module in pairs(LAZY_METHODS) do
  Client[name] = lazy_method(name, module)
end

return M
