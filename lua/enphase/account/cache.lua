--- The token cache (option `token_cache`): a session's JWT, XSRF token, ids
-- and cookies kept in a private file, so that the next process (a cron'd
-- script, the next `enphase token --json`) needs no login.
--
-- The file is versioned JSON bound to one account (a SHA-256 of base_url
-- and e-mail: neither is stored in clear), written atomically with mode
-- 0600 by `native.write_private`, and refused when it or its folder is open
-- to others. A missing, corrupt, truncated, expired or other account's
-- file is ignored (and replaced after the next login), never an error.
--
-- Locking: a client that must log in (or discover ids, or fetch an XSRF
-- token) takes the cache's lock first and reads the file again, so that of
-- several processes started together only one logs in and the others take
-- its session; the lock is released once the new session is saved.
--
-- The cache does not interpret what it keeps: the session (session.lua)
-- exports and imports its tokens and cookies, the site's facts (site.lua)
-- their `snapshot()` and `restore()`.
local native = require("enphase.transport.native")
local json = require("enphase.util.json")
local session_state = require("enphase.account.session")
local site_facts = require("enphase.account.site")

local M = {}

M.VERSION = 1

-- A cache is a few kilobytes; anything much larger is not ours.
local MAX_SIZE = 256 * 1024

local Cache = {}
Cache.__index = Cache

--- The key binding a cache to an account.
function M.account_key(base_url, email)
  return native.sha256("enphase-token-cache\n" .. base_url .. "\n" .. email)
end

--- Makes `path` usable as a cache: creates its missing folders (mode 0700)
-- and checks that the folder and the file (when present) are private.
-- Returns true, or `nil, message, "input"`.
function M.prepare(path)
  local dir = path:match("^(.+)/[^/]*$")
  if dir then
    local ok, err = native.make_private_dir(dir)
    if not ok then
      return nil, err, "input"
    end
  end
  local ok, err = native.check_private(path)
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
    or (t.xsrf ~= nil and type(t.xsrf) ~= "string") or not is_string_list(t.cookies)
    or (t.issued ~= nil and math.type(t.issued) ~= "integer") then
    return nil, "fields missing or of the wrong type"
  end
  local why = site_facts.check(t)
  if why then
    return nil, why
  end
  return t
end

-- The cache locks this process holds, by lock path. A blocking call of
-- another client of this process never waits for one: the holder (an
-- operation) cannot move on while the call blocks, so the wait would last
-- the whole timeout, for nothing. Weak values: a lock dropped with its
-- operation does not stay here.
local held_here = setmetatable({}, { __mode = "v" })

-- Paths spelt differently name one file (`a//b`, `./a/b`, `a/./b`).
local function lock_key(path)
  return (path:gsub("/%./", "/"):gsub("//+", "/"):gsub("^%./", ""))
end

-- A lock taken by take_lock: `unlock()` also takes it out of `held_here`.
local Held = {}
Held.__index = Held

function Held:unlock()
  if held_here[self.key] == self then
    held_here[self.key] = nil
  end
  self.lock:unlock()
end

-- Takes the cache's file lock: a lock (`lock:unlock()`), or
-- `nil, message, here` (`here`: another client of this process holds it).
-- Inside an engine operation a wait must not stall the other operations
-- (one of them may hold the lock): try, and wait on the engine's timer
-- between tries.
local function take_lock(path, wait)
  local engine = require("enphase.transport.engine")
  local key = lock_key(path)
  local lock, err
  if not engine.current() then
    if held_here[key] then
      return nil, "its lock is held by another client of this process", true
    end
    lock, err = native.lock(path, wait)
  else
    local deadline = native.monotonic() + wait
    while true do
      lock, err = native.lock(path, 0)
      if lock or native.monotonic() >= deadline then
        break
      end
      engine.sleep(0.05)
    end
  end
  if not lock then
    return nil, err
  end
  local held = setmetatable({ key = key, lock = lock }, Held)
  held_here[key] = held
  return held
end

-- What has been saved (or read): the session's and the site's generations.
local function mark_saved(self, client)
  self.saved = client._session:generation()
  self.saved_site = client._site.generation
end

--- Takes the cached session when its JWT is still fresh. Returns true when
-- something was taken.
function Cache:load(client)
  local t, why = self:read()
  if not t then
    if why then
      client._log("warn", "token cache %s ignored: %s", self.path, why)
    end
    return false
  end
  if not session_state.is_fresh(t.exp, t.issued, client._clock(), client._cfg.refresh_margin) then
    client._log("info", "token cache %s: the JWT expires at %d, too soon to use", self.path, t.exp)
    return false
  end
  local ok, err = client._session:import_state({
    token = t.token,
    xsrf = t.xsrf,
    cookies = t.cookies,
    issued = t.issued,
  })
  if not ok then
    client._log("warn", "token cache %s ignored: %s", self.path, err)
    return false
  end
  -- ids, time zone and capability flags: those given as options win
  local site = client._site
  local unsaved = self.saved_site ~= nil and self.saved_site ~= site.generation
  site:restore(t)
  mark_saved(self, client)
  if unsaved then
    self.saved_site = -1 -- the site knew more than the file: save it
  end
  client._log("info", "using the session cached in %s (JWT valid until %d)", self.path, t.exp)
  return true
end

--- Writes the session when it or the site's facts changed since they were
-- last read or written. Under the lock (taken here unless a guard holds
-- it). A failure is logged, never returned: the cache only saves logins.
function Cache:save(client)
  local session, site = client._session, client._site
  if session:generation() == self.saved and site.generation == self.saved_site then
    return
  end
  local st = session:export_state()
  if not st.token then
    return
  end
  local generation, site_generation = session:generation(), site.generation
  local t = site:snapshot()
  t.version = M.VERSION
  t.account = self.account
  t.saved = os.time()
  t.token = st.token
  t.exp = st.exp
  t.issued = st.issued
  t.xsrf = st.xsrf
  t.cookies = json.array(st.cookies)
  local text, jerr = json.encode(t)
  if not text then
    client._log("warn", "token cache not saved: %s", jerr)
    return
  end
  local lock, err, here
  if not self.held then
    lock, err, here = take_lock(self.path, self.lock_wait)
    if not lock and not here then
      client._log("warn", "token cache not saved: %s", err)
      return
    end
    -- `here`: the holder is of this process and cannot be writing now (one
    -- thread); the write is atomic.
  end
  local ok
  ok, err = native.write_private(self.path, text)
  if lock then
    lock:unlock()
  end
  if ok then
    self.saved, self.saved_site = generation, site_generation
    client._log("debug", "token cache %s saved", self.path)
  else
    client._log("warn", "token cache not saved: %s", err)
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
-- whose release() saves what changed and unlocks.
-- With `always`, the lock is taken and nothing is read (an explicit login).
function Cache:guard(client, always)
  if self.held then
    return nil
  end
  local session = client._session
  local jwt_fresh = session:jwt_fresh(client._cfg.refresh_margin)
  local site_id, user_id = client._site:ids()
  if not always and jwt_fresh and session:info().has_xsrf and site_id and user_id then
    return nil
  end
  local lock, err, here = take_lock(self.path, self.lock_wait)
  if not lock then
    client._log(here and "info" or "warn", "token cache %s: %s; going on without it", self.path, err)
    return nil
  end
  self.held = lock
  if not always and not jwt_fresh then
    self:load(client)
  end
  return setmetatable({ cache = self, client = client, lock = lock }, Guard)
end

--- Runs `f(...)` holding the cache's lock (the one a guard holds, or taken
-- for the call) without saving anything: for the account's ledger kept
-- beside the cache (ledger.lua). Returns true and what `f` returns, or
-- `nil, message` when the lock cannot be had. When another client of this
-- process holds it, `f` runs without it: that client cannot be writing now
-- (one thread), and every write is atomic.
function Cache:locked(f, ...)
  if self.held then
    return true, f(...)
  end
  local lock, err, here = take_lock(self.path, self.lock_wait)
  if not lock and not here then
    return nil, err
  end
  self.held = lock
  local results = table.pack(pcall(f, ...))
  if lock then
    self.held = nil
    lock:unlock()
  end
  if not results[1] then
    error(results[2], 0)
  end
  return true, table.unpack(results, 2, results.n)
end

-- The helpers the client and the token lifecycle call: each does nothing
-- for a client without a cache.

--- Runs `fn(...)` inside the client's cache guard (see Cache:guard) and
-- returns what it returns. The guard is released when `fn` returns and
-- when it raises (the error then goes on).
function M.guarded(client, always, fn, ...)
  local cache = client._cache
  local guard = cache and cache:guard(client, always)
  if not guard then
    return fn(...)
  end
  local results = table.pack(pcall(fn, ...))
  guard:release()
  if not results[1] then
    error(results[2], 0)
  end
  return table.unpack(results, 2, results.n)
end

--- After a login, a JWT or XSRF renewal, or something learnt about the
-- site: saves now, or at the end of the guard that holds the lock.
function M.changed(client)
  local cache = client._cache
  if cache and not cache.held then
    cache:save(client)
  end
end

return M
