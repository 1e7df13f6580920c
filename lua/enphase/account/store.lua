--- The account store: everything of one account that outlives a process,
-- in one private file (the token cache's path, option `token_cache`).
--
-- The file is versioned JSON bound to one account (a SHA-256 of base_url
-- and e-mail: neither is stored in clear), written atomically with mode
-- 0600, and has one named section per owner:
--
--   session  the JWT, XSRF token, cookies and the site's facts (cache.lua)
--   guard    the lock-out guard's memory (guard.lua)
--   budget   the request budget's stamps (budget.lua)
--   owned    the schedules this library created, timed actions under way
--            included (owned.lua, timed.lua)
--   reads    slow-changing reads kept for `max_age` (reads.lua)
--   mfa      a multi-factor login under way (mfa.lua)
--
-- One lock file beside it (`<file>.lock`) serializes every read-modify-write
-- of every process of the account; inside a non-blocking operation the wait
-- for it is a series of tries on the engine's timer, so it never stalls the
-- other operations (one of them may hold it).
--
-- What is read back is checked as strictly as a server's answer: a section
-- of the wrong type or out of range is reset (dropped) with a warning and
-- never raises. A time stamp in the future (a clock that was set ahead and
-- then corrected) is taken as now, so that nothing stays spent, refused or
-- kept until the clock catches up with it.
--
-- Older versions kept five files per account: the token cache (version 1),
-- `<cache>.<16 hex>.ledger`, `<cache without .json>.owned.json` and two
-- lock files. They are folded in once, at first use, and removed.
local native = require("enphase.transport.native")
local json = require("enphase.util.json")

local M = {}

M.VERSION = 2

--- The sections, in the order they are checked.
M.SECTIONS = { "session", "guard", "budget", "owned", "reads", "mfa" }

-- A store is a few kilobytes; anything much larger is not ours.
local MAX_SIZE = 768 * 1024

--- The latest epoch second a stamp may hold (the end of year 9999).
M.MAX_EPOCH = 253402300799

local Store = {}
Store.__index = Store

--- The key binding a store to an account.
function M.account_key(base_url, email)
  return native.sha256("enphase-token-cache\n" .. base_url .. "\n" .. email)
end

--- The files of the older versions that are folded in at first use.
function M.legacy_paths(path, account)
  return {
    ledger = path .. "." .. account:sub(1, 16) .. ".ledger",
    owned = (path:gsub("%.json$", "")) .. ".owned.json",
  }
end

--- Makes `path` usable as a store: creates its missing folders (mode 0700)
-- and checks that the folder and the file (when present) are private.
-- Returns true (and, when a folder stands where the file should be, why it
-- cannot be written: the store then keeps nothing and the lock-out guard
-- fails closed), or `nil, message, "input"`.
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
    local _, _, what = native.file_mode(path)
    if what == "folder" and err:find("is not a regular file", 1, true) then
      return true, path .. " is a folder, not a file: nothing can be saved"
    end
    return nil, err, "input"
  end
  return true
end

--- The store of the client options `cfg` (already checked), or
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
    cfg = cfg,
    clock = cfg.clock or native.now,
    broken = err, -- why nothing can be saved, or nil
  }, Store)
end

-- Checks --------------------------------------------------------------------

local function is_whole(v, lo, hi)
  return type(v) == "number" and v == v and v == math.floor(v) and v >= lo and v <= hi
end

local function is_stamp(v)
  return type(v) == "number" and v == v and v >= 0 and v <= M.MAX_EPOCH
end

local function is_string_list(v)
  if type(v) ~= "table" then
    return false
  end
  local n = 0
  for _ in pairs(v) do
    n = n + 1
  end
  for i = 1, n do
    if type(v[i]) ~= "string" then
      return false
    end
  end
  return true
end

local function is_hhmm(v)
  return type(v) == "string" and v:match("^%d%d:%d%d$") ~= nil
end

-- Each section's check: `check(section, now, cfg)` returns nil when the
-- section is usable (it may fix future stamps in place), else why not.
local CHECKS = {}

function CHECKS.session(s)
  if type(s.token) ~= "string" or not is_whole(s.exp, 0, M.MAX_EPOCH)
    or (s.xsrf ~= nil and type(s.xsrf) ~= "string") or not is_string_list(s.cookies)
    or (s.issued ~= nil and not is_whole(s.issued, 0, M.MAX_EPOCH)) then
    return "fields missing or of the wrong type"
  end
  return require("enphase.account.site").check(s)
end

local REFUSAL_KINDS = { auth = true, mfa = true, locked = true }

-- The pause the guard set after its last refusal (guard.lua's rule).
local function pause_of(g, cfg)
  if g.kind == "locked" then
    return cfg.locked_pause
  elseif (g.refusals or 0) >= cfg.login_refusals then
    return cfg.refusals_pause
  end
  return cfg.login_cooldown
end

function CHECKS.guard(g, now, cfg, _, fixed)
  for _, k in ipairs({ "ok_at", "until_at", "trying_at" }) do
    if g[k] ~= nil and not is_stamp(g[k]) then
      return k .. " is not a time stamp"
    end
  end
  if g.refusals ~= nil and not is_whole(g.refusals, 0, 1000000) then
    return "refusals is not a count"
  elseif g.kind ~= nil and not REFUSAL_KINDS[g.kind] then
    return "kind is not auth, mfa or locked"
  elseif g.message ~= nil and (type(g.message) ~= "string" or #g.message > 4096) then
    return "message is not a short string"
  elseif g.mfa ~= nil and type(g.mfa) ~= "boolean" then
    return "mfa is not a boolean"
  elseif g.fingerprint ~= nil and not (type(g.fingerprint) == "string"
      and g.fingerprint:match("^%x+$") and #g.fingerprint == 64) then
    return "fingerprint is not 64 hex digits"
  elseif g.salt ~= nil and not (type(g.salt) == "string" and g.salt:match("^%x+$")
      and #g.salt <= 64) then
    return "salt is not hex digits"
  end
  -- future stamps: taken as now (the deadline as the pause from now)
  if g.ok_at and g.ok_at > now then
    g.ok_at = fixed(now)
  end
  if g.trying_at and g.trying_at > now then
    g.trying_at = fixed(now)
  end
  if g.until_at and g.until_at > now + pause_of(g, cfg) then
    g.until_at = fixed(now + pause_of(g, cfg))
  end
  return nil
end

function CHECKS.budget(list, now, _, _, fixed)
  if #list > 1000000 then
    return "too many stamps"
  end
  for i = 1, #list do
    local e = list[i]
    if type(e) ~= "table" or not is_stamp(e[1]) or not is_whole(e[2], 1, 1000000000) then
      return ("stamp %d is not [second, count]"):format(i)
    end
    if e[1] > now then
      e[1] = fixed(now)
    end
  end
  return nil
end

function CHECKS.reads(reads, now, _, _, fixed)
  for name, entry in pairs(reads) do
    if type(name) ~= "string" or type(entry) ~= "table" or not is_stamp(entry.at)
      or type(entry.value) ~= "table" then
      return "entries are not {at, value}"
    end
    if entry.at > now then
      reads[name] = fixed(nil) -- of unknown age: asked again
    end
  end
  return nil
end

function CHECKS.mfa(p, now)
  if not is_stamp(p.started) or not is_stamp(p.sent) or type(p.csrf) ~= "string"
    or not is_string_list(p.cookies) then
    return "fields missing or of the wrong type"
  elseif p.started > now or p.sent > now then
    return "started in the future"
  end
  return nil
end

local MODES = { cfg = true, dtg = true, rbd = true }

-- One ownership record; nil when usable (an unreadable expiry or a future
-- stamp is fixed in place), else why not.
local function check_record(key, r, now, fixed)
  if type(key) ~= "string" or type(r) ~= "table" or not MODES[r.mode]
    or not is_hhmm(r.start_time) or not is_hhmm(r.end_time) or type(r.days) ~= "table" then
    return "not a schedule record"
  end
  for i = 1, #r.days do
    if not is_whole(r.days[i], 1, 7) then
      return "days are not 1-7"
    end
  end
  if r.expires ~= nil and not (is_stamp(r.expires) and r.expires <= now + 86400) then
    -- a timed window whose end cannot be read is taken as ended: its
    -- window is removed at the next run rather than kept every week
    r.expires = fixed(now)
  end
  if r.created ~= nil and not is_stamp(r.created) then
    r.created = fixed(nil)
  elseif r.created and r.created > now then
    r.created = fixed(now)
  end
  if r.turned_on ~= nil and type(r.turned_on) ~= "boolean" then
    r.turned_on = fixed(true)
  end
  if r.limit ~= nil and not is_whole(r.limit, 0, 100) then
    r.limit = fixed(nil)
  end
  if r.known ~= nil and not is_string_list(r.known) then
    r.known = fixed(nil) -- unreadable: the pending record adopts no window (owned.lua)
  end
  return nil
end

function CHECKS.owned(o, now, _, warn, fixed)
  if type(o.sites) ~= "table" then
    return "sites is not an object"
  end
  for site, records in pairs(o.sites) do
    if type(site) ~= "string" or type(records) ~= "table" then
      return "a site's records are not an object"
    end
    for key, r in pairs(records) do
      local why = check_record(key, r, now, fixed)
      if why then
        warn("owned", ("record %s dropped: %s"):format(tostring(key), why))
        records[key] = fixed(nil)
      end
    end
  end
  return nil
end

--- Checks section `name` as content() does: nil when usable (a future
-- stamp may be fixed in place through `fixed(v)`), else why not.
-- store_write.lua checks the older files' sections with it.
function M.check_section(name, s, now, cfg, warn, fixed)
  return CHECKS[name](s, now, cfg, warn, fixed)
end

-- Reading -------------------------------------------------------------------

local function empty(account)
  return { version = M.VERSION, account = account }
end

--- The decoded file, or nil and why (nil, nil: missing or empty).
function M.decode_file(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local text, err = f:read(MAX_SIZE + 1)
  f:close()
  if not text and err then
    return nil -- a folder in place of the file reads as nothing
  elseif not text or text == "" then
    return nil, "empty file"
  elseif #text > MAX_SIZE then
    return nil, "larger than " .. MAX_SIZE .. " bytes"
  end
  local t = json.decode(text)
  if type(t) ~= "table" then
    return nil, "not JSON (corrupt or truncated)"
  end
  return t
end

-- Version 1 (a token cache alone) as the session section.
local function session_of_v1(t)
  local s = {}
  for k, v in pairs(t) do
    if k ~= "version" and k ~= "account" and k ~= "saved" then
      s[k] = v
    end
  end
  return s
end

--- The store's content: a table with one field per usable section
-- (never nil), and why the whole file was not usable (nil when it is,
-- or is simply missing). `log(level, fmt, ...)` hears of every reset
-- section. Never raises: the content is not trusted.
function Store:content(log)
  local t, why = M.decode_file(self.path)
  local doc = empty(self.account)
  self.seen_version = t and t.version
  if not t then
    return doc, why
  elseif t.account ~= self.account then
    return doc, "it belongs to another account or server"
  elseif t.version == 1 then
    doc.session = session_of_v1(t)
  elseif t.version == M.VERSION then
    for _, name in ipairs(M.SECTIONS) do
      doc[name] = t[name]
    end
  else
    return doc, "version " .. tostring(t.version) .. ", not " .. M.VERSION
  end
  local now = self.clock()
  local function warn(section, reason)
    local line = ("account store %s: section %s reset: %s"):format(self.path, section, reason)
    self.warned = self.warned or {}
    if log and not self.warned[line] then -- once a process
      self.warned[line] = true
      log("warn", "%s", line)
    end
  end
  -- a value fixed in place (a future stamp taken as now): written back at
  -- the next update, so that the fix holds as the clock moves on
  local function fixed(v)
    doc.reset = true
    return v
  end
  for _, name in ipairs(M.SECTIONS) do
    local s = doc[name]
    if s ~= nil then
      local bad = type(s) ~= "table" and "not an object or list"
        or CHECKS[name](s, now, self.cfg, warn, fixed)
      if bad then
        doc[name] = nil
        doc.reset = true
        if name ~= "session" then -- the session's owner says why itself
          warn(name, bad)
        else
          doc.session_why = bad
        end
      end
    end
  end
  if doc.budget then
    doc.budget = json.array(doc.budget)
  end
  self.fix_pending = doc.reset
  return doc
end

--- Writes back what the last content() reset or fixed (a section out of
-- range, a future stamp), so that the next process finds it right.
function Store:write_back(log)
  if self.fix_pending and not self.broken then
    self:update(log, function()
      return true
    end)
  end
end

-- Writing (the lock, read-modify-write updates, the older files folded in)
-- is store_write.lua's, loaded at the first write: a warm start only reads.
local function writer()
  return require("enphase.account.store_write")
end

--- Writes `doc` (a table from content(), changed). Returns true, or
-- `nil, message`.
function Store:write(doc)
  return writer().write(self, doc)
end

--- Takes the store's file lock: a lock (`lock:unlock()`), or
-- `nil, message, here` (`here`: another client of this process holds it).
function Store:lock()
  return writer().lock(self)
end

--- Runs `f(...)` holding the store's lock; see store_write.locked.
function Store:locked(f, ...)
  return writer().locked(self, f, ...)
end

--- Runs `fn(doc, save_now)` on the store's content under its lock and
-- writes it back when `fn` returns true first; see store_write.update.
function Store:update(log, fn)
  return writer().update(self, log, fn)
end

--- Folds the older versions' files into `doc`; see store_write.fold_legacy.
function Store:fold_legacy(doc, log)
  return writer().fold_legacy(self, doc, log)
end

--- True when older files wait to be folded in (checked once per store).
function Store:has_legacy()
  if self.folded or self.broken then
    return false
  end
  local legacy = M.legacy_paths(self.path, self.account)
  for _, p in pairs(legacy) do
    local f = io.open(p, "rb")
    if f then
      f:close()
      return true
    end
  end
  self.folded = true
  return false
end

--- The store's methods, for the token cache's (cache.lua) to extend.
M.Store = Store

return M
