--- The token cache (option `token_cache`): a session's JWT, XSRF token, ids
-- and cookies kept in the `session` section of the account store
-- (store.lua: one private file per account, written atomically
-- with mode 0600, refused when it or its folder is open to others), so
-- that the next process (a cron'd script, the next `enphase token --json`)
-- needs no login. A missing, corrupt, truncated, expired or other
-- account's session is ignored (and replaced after the next login), never
-- an error.
--
-- Locking: a client that must log in (or discover ids, or fetch an XSRF
-- token) takes the store's lock first and reads the file again, so that of
-- several processes started together only one logs in and the others take
-- its session; the lock is released once the new session is saved.
--
-- The cache does not interpret what it keeps: the session (session.lua)
-- exports and imports its tokens and cookies, the site's facts (site.lua)
-- their `snapshot()` and `restore()`.
local compat = require("enphase.util.compat")
local json = require("enphase.util.json")
local session_state = require("enphase.account.session")
local account_store = require("enphase.account.store")

local M = {}

local pack = compat.pack or function(...)
  return { n = select("#", ...), ... }
end
local unpack = compat.unpack or rawget(_G, "unpack")

M.VERSION = account_store.VERSION

-- A cache is the account store with the session's methods.
local Cache = setmetatable({}, { __index = account_store.Store })
Cache.__index = Cache

--- The key binding a cache to an account.
M.account_key = account_store.account_key

--- Makes `path` usable as a cache (account_store.prepare).
M.prepare = account_store.prepare

--- A cache for the client options `cfg` (already checked), or
-- `nil, message, "input"` when the file or its folder is not private.
function M.open(cfg)
  local store, err, kind = account_store.open(cfg)
  if not store then
    return nil, err, kind
  end
  return setmetatable(store, Cache)
end

--- The cached session, or nil and why it is unusable (nil when the file is
-- simply missing). Never raises: the content is not trusted.
function Cache:read(log)
  local doc, why = self:content(log)
  if doc.session then
    return doc.session
  end
  return nil, why or doc.session_why
end

-- What has been saved (or read): the session's and the site's generations.
local function mark_saved(self, client)
  self.saved = client.ctx.session:generation()
  self.saved_site = client.ctx.site.generation
end

--- Takes the cached session when its JWT is still fresh. Returns true when
-- something was taken.
function Cache:load(client)
  local t, why = self:read(client.ctx.log)
  if not t then
    if why then
      client.ctx.log("warn", "token cache %s ignored: %s", self.path, why)
    end
    return false
  end
  if not session_state.is_fresh(t.exp, t.issued, client.ctx.clock(), client.ctx.config.refresh_margin) then
    client.ctx.log("info", "token cache %s: the JWT expires at %d, too soon to use", self.path, t.exp)
    return false
  end
  local ok, err = client.ctx.session:import_state({
    token = t.token,
    xsrf = t.xsrf,
    cookies = t.cookies,
    issued = t.issued,
  })
  if not ok then
    client.ctx.log("warn", "token cache %s ignored: %s", self.path, err)
    return false
  end
  -- ids, time zone and capability flags: those given as options win
  local site = client.ctx.site
  local unsaved = self.saved_site ~= nil and self.saved_site ~= site.generation
  site:restore(t)
  mark_saved(self, client)
  if unsaved then
    self.saved_site = -1 -- the site knew more than the file: save it
  end
  client.ctx.log("info", "using the session cached in %s (JWT valid until %d)", self.path, t.exp)
  return true
end

--- Writes the session when it or the site's facts changed since they were
-- last read or written. Under the lock (taken here unless a guard holds
-- it). A failure is logged, never returned: the cache only saves logins.
function Cache:save(client)
  local session, site = client.ctx.session, client.ctx.site
  if session:generation() == self.saved and site.generation == self.saved_site then
    return
  end
  local st = session:export_state()
  if not st.token then
    return
  end
  local generation, site_generation = session:generation(), site.generation
  local t = site:snapshot()
  t.token = st.token
  t.exp = st.exp
  t.issued = st.issued
  t.xsrf = st.xsrf
  t.cookies = json.array(st.cookies)
  local written
  local ok, err = self:update(client.ctx.log, function(doc, save_now)
    doc.session = t
    written = save_now()
    return false
  end)
  if ok and not written then
    return -- the store said why
  end
  if ok then
    self.saved, self.saved_site = generation, site_generation
    client.ctx.log("debug", "token cache %s saved", self.path)
  else
    client.ctx.log("warn", "token cache not saved: %s", err)
  end
end

local Guard = {}
Guard.__index = Guard

-- Saves what changed and unlocks.
function Guard:release()
  local cache = self.cache
  if cache.held == self.lock then
    cache:save(self.client)
    cache.held = nil
  end
  self.lock:unlock()
end

--- Before the steps that may log in: when the client lacks a fresh JWT,
-- its ids or its XSRF token, takes the lock and reads the cache again
-- (another process may have logged in meanwhile). Returns nil, or a guard
-- whose release() saves what changed and unlocks (`nil, message, here`
-- when the lock could not be had).
-- With `always`, the lock is taken and nothing is read (an explicit login).
function Cache:guard(client, always)
  if self.held then
    return nil
  end
  local session = client.ctx.session
  local jwt_fresh = session:jwt_fresh(client.ctx.config.refresh_margin)
  local site_id, user_id = client.ctx.site:ids()
  if not always and jwt_fresh and session:info().has_xsrf and site_id and user_id then
    return nil
  end
  local lock, err, here = self:lock()
  if not lock then
    client.ctx.log(here and "info" or "warn", "token cache %s: %s; going on without it", self.path, err)
    return nil, err, here
  end
  self.held = lock
  if not always and not jwt_fresh then
    self:load(client)
  end
  return setmetatable({ cache = self, client = client, lock = lock }, Guard)
end

-- The helpers the client and the token lifecycle call: each does nothing
-- for a client without a cache.

--- Runs `fn(...)` inside the client's cache guard (see Cache:guard) and
-- returns what it returns. The guard is released when `fn` returns and
-- when it raises (the error then goes on).
function M.guarded(client, always, fn, ...)
  local cache = client.ctx.store
  local guard = cache and cache:guard(client, always)
  if not guard then
    return fn(...)
  end
  local results = pack(compat.pcall(fn, ...))
  guard:release()
  if not results[1] then
    error(results[2], 0)
  end
  return unpack(results, 2, results.n)
end

--- After a login, a JWT or XSRF renewal, or something learnt about the
-- site: saves now, or at the end of the guard that holds the lock.
function M.changed(client)
  local cache = client.ctx.store
  if cache and not cache.held then
    cache:save(client)
  end
end

return M
