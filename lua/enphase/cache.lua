--- The token cache (option `token_cache`): a session's JWT, XSRF token, ids
-- and cookies kept in a private file, so that the next process (a cron'd
-- script, the next `enphase token --json`) needs no login.
--
-- The file is versioned JSON bound to one account (a SHA-256 of base_url
-- and e-mail: neither is stored in clear), written atomically with mode
-- 0600 by `core.write_private`, and refused when it or its folder is open
-- to others. A missing, corrupt, truncated, expired or other account's
-- file is ignored (and replaced after the next login), never an error.
--
-- Locking: a client that must log in (or discover ids, or fetch an XSRF
-- token) takes the cache's lock first and reads the file again, so that of
-- several processes started together only one logs in and the others take
-- its session; the lock is released once the new session is saved.
local core = require("enphase.core")
local json = require("enphase.json")

local M = {}

M.VERSION = 1

-- A cache is a few kilobytes; anything much larger is not ours.
local MAX_SIZE = 256 * 1024

local Cache = {}
Cache.__index = Cache

--- The key binding a cache to an account.
function M.account_key(base_url, email)
  return core.sha256("enphase-token-cache\n" .. base_url .. "\n" .. email)
end

--- Makes `path` usable as a cache: creates its missing folders (mode 0700)
-- and checks that the folder and the file (when present) are private.
-- Returns true, or `nil, message, "input"`.
function M.prepare(path)
  local dir = path:match("^(.+)/[^/]*$")
  if dir then
    local ok, err = core.make_private_dir(dir)
    if not ok then
      return nil, err, "input"
    end
  end
  local ok, err = core.check_private(path)
  if not ok then
    return nil, err, "input"
  end
  return true
end

--- A cache for the client options `cfg` (already checked), or
-- `nil, message, "input"` when the file or its folder is not private.
function M.open(cfg)
  local ok, err, kind = M.prepare(cfg.token_cache)
  if not ok then
    return nil, err, kind
  end
  return setmetatable({
    path = cfg.token_cache,
    account = M.account_key(cfg.base_url, cfg.email),
    -- A login with discovery is at most 6 requests of `timeout` each.
    lock_wait = 6 * cfg.timeout + 5,
  }, Cache)
end

local function is_id(v)
  return v == nil or (math.type(v) == "integer" and v > 0)
end

local function is_string_list(v)
  if type(v) ~= "table" then
    return false
  end
  for i = 1, #v do
    if type(v[i]) ~= "string" then
      return false
    end
  end
  return next(v) == nil or #v > 0
end

--- The cached state, or nil and why it is unusable (nil when the file is
-- simply missing). Never raises: the content is not trusted.
function Cache:read()
  local f = io.open(self.path, "rb")
  if not f then
    return nil
  end
  local text = f:read(MAX_SIZE + 1)
  f:close()
  if not text or text == "" then
    return nil, "empty file"
  elseif #text > MAX_SIZE then
    return nil, "larger than " .. MAX_SIZE .. " bytes"
  end
  local t = json.decode(text)
  if type(t) ~= "table" then
    return nil, "not JSON (corrupt or truncated)"
  elseif t.version ~= M.VERSION then
    return nil, "version " .. tostring(t.version) .. ", not " .. M.VERSION
  elseif t.account ~= self.account then
    return nil, "it belongs to another account or server"
  elseif type(t.token) ~= "string" or math.type(t.exp) ~= "integer"
    or (t.xsrf ~= nil and type(t.xsrf) ~= "string") or not is_id(t.site_id)
    or not is_id(t.user_id) or not is_string_list(t.cookies)
    or (t.timezone ~= nil and type(t.timezone) ~= "string")
    or (t.site_settings ~= nil and type(t.site_settings) ~= "table") then
    return nil, "fields missing or of the wrong type"
  end
  return t
end

-- Takes the file lock. Inside an engine operation a wait must not stall the
-- other operations: try, and wait on the engine's timer between tries.
local function take_lock(path, wait)
  local engine = require("enphase.engine")
  if not engine.current() then
    return core.lock(path, wait)
  end
  local deadline = core.monotonic() + wait
  while true do
    local lock, err = core.lock(path, 0)
    if lock or core.monotonic() >= deadline then
      return lock, err
    end
    engine.sleep(0.05)
  end
end

local function fresh(client, exp)
  return exp ~= nil and exp - client._clock() > client._cfg.refresh_margin
end

--- Takes the cached session when its JWT is still fresh. Returns true when
-- something was imported.
function Cache:load(client)
  local t, why = self:read()
  if not t then
    if why then
      client._log("warn", "token cache %s ignored: %s", self.path, why)
    end
    return false
  end
  if not fresh(client, t.exp) then
    client._log("info", "token cache %s: the JWT expires at %d, too soon to use", self.path, t.exp)
    return false
  end
  local cfg = client._cfg
  local ok, err = client._session:import_state({
    token = t.token,
    xsrf = t.xsrf,
    cookies = t.cookies,
    -- ids given as options win over cached ones
    site_id = not cfg.site_id and t.site_id or nil,
    user_id = not cfg.user_id and t.user_id or nil,
  })
  if not ok then
    client._log("warn", "token cache %s ignored: %s", self.path, err)
    return false
  end
  if t.timezone and not client._timezone then
    client._timezone = t.timezone
  end
  -- The capability flags: a new process then toggles without asking again.
  if t.site_settings and not client._site_settings then
    client._site_settings = t.site_settings
  end
  self.saved = client._session:generation()
  client._log("info", "using the session cached in %s (JWT valid until %d)", self.path, t.exp)
  return true
end

--- Writes the session when it changed since it was last read or written.
-- Under the lock (taken here unless a guard holds it). A failure is logged,
-- never returned: the cache only saves logins.
function Cache:save(client)
  local session = client._session
  local generation = session:generation()
  if generation == self.saved and not self.dirty then
    return
  end
  local st = session:export_state()
  if not st.token then
    return
  end
  local text, jerr = json.encode({
    version = M.VERSION,
    account = self.account,
    saved = os.time(),
    token = st.token,
    exp = st.exp,
    xsrf = st.xsrf,
    site_id = st.site_id,
    user_id = st.user_id,
    cookies = json.array(st.cookies),
    timezone = client._timezone,
    site_settings = client._site_settings,
  })
  if not text then
    client._log("warn", "token cache not saved: %s", jerr)
    return
  end
  local lock, err
  if not self.held then
    lock, err = take_lock(self.path, self.lock_wait)
    if not lock then
      client._log("warn", "token cache not saved: %s", err)
      return
    end
  end
  local ok
  ok, err = core.write_private(self.path, text)
  if lock then
    lock:unlock()
  end
  if ok then
    self.saved = generation
    self.dirty = false
    client._log("debug", "token cache %s saved", self.path)
  else
    client._log("warn", "token cache not saved: %s", err)
  end
end

local Guard = {}
Guard.__index = Guard

function Guard:__close()
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
-- for a `<close>` variable: closing it saves what changed and unlocks.
-- With `always`, the lock is taken and nothing is read (an explicit login).
function Cache:guard(client, always)
  if self.held then
    return nil
  end
  local info = client._session:info()
  local jwt_fresh = info.has_jwt and fresh(client, info.exp)
  if not always and jwt_fresh and info.has_xsrf and info.site_id and info.user_id then
    return nil
  end
  local lock, err = take_lock(self.path, self.lock_wait)
  if not lock then
    client._log("warn", "token cache: %s; going on without it", err)
    return nil
  end
  self.held = lock
  if not always and not jwt_fresh then
    self:load(client)
  end
  return setmetatable({ cache = self, client = client, lock = lock }, Guard)
end

-- The helpers the client and the token lifecycle call: each does nothing
-- for a client without a cache.

--- A guard (or nil) for `local g <close> = cache.guard(client)`.
function M.guard(client, always)
  local cache = client._cache
  return cache and cache:guard(client, always) or nil
end

--- After a login, a JWT or XSRF renewal, or a discovery: saves now, or at
-- the end of the guard that holds the lock. `extra` says that something
-- outside the session (the site's capability flags) changed.
function M.changed(client, extra)
  local cache = client._cache
  if cache and extra then
    cache.dirty = true
  end
  if cache and not cache.held then
    cache:save(client)
  end
end

return M
