--- Writing the account store (store.lua): its one lock, the read-modify-write
-- updates every section's owner goes through, and the older versions'
-- files folded in once. Loaded at the first write, not by a warm start
-- (a cache holding a fresh JWT is only read). The store's methods of the
-- same names (Store:write, :lock, :locked, :update, :fold_legacy) call these.
local compat = require("enphase.util.compat")
local native = require("enphase.transport.native")
local json = require("enphase.util.json")
local store = require("enphase.account.store")

local M = {}

--- Writes `doc` (a table from content(), changed). Returns true, or
-- `nil, message`.
function M.write(self, doc)
  if self.broken then
    return nil, self.broken
  end
  local out = { version = store.VERSION, account = self.account }
  for _, name in ipairs(store.SECTIONS) do
    out[name] = doc[name]
  end
  local text, err = json.encode(out)
  if not text then
    return nil, err
  end
  return native.write_private(self.path, text)
end

-- Locking -------------------------------------------------------------------

-- The store locks this process holds, by lock path. A blocking call of
-- another client of this process never waits for one: the holder (an
-- operation) cannot move on while the call blocks, so the wait would last
-- the whole timeout, for nothing. Weak values: a lock dropped with its
-- operation does not stay here.
local held_here = setmetatable({}, { __mode = "v" })

-- Paths spelt differently name one file (`a//b`, `./a/b`, `a/./b`).
local function lock_key(path)
  return (path:gsub("/%./", "/"):gsub("//+", "/"):gsub("^%./", ""))
end

local Held = {}
Held.__index = Held

function Held:unlock()
  if held_here[self.key] == self then
    held_here[self.key] = nil
  end
  self.lock:unlock()
end

--- Takes the store's file lock: a lock (`lock:unlock()`), or
-- `nil, message, here` (`here`: another client of this process holds it).
-- Inside an engine operation a wait must not stall the other operations
-- (one of them may hold the lock): try, and wait on the engine's timer
-- between tries.
function M.lock(self)
  -- not loaded: no operation is running (a warm start loads no engine)
  local engine = package.loaded["enphase.transport.engine"]
  local key = lock_key(self.path)
  local lock, err
  if not (engine and engine.current()) then
    if held_here[key] then
      return nil, "its lock is held by another client of this process", true
    end
    lock, err = native.lock(self.path, self.lock_wait)
  else
    local deadline = native.monotonic() + self.lock_wait
    while true do
      lock, err = native.lock(self.path, 0)
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

local pack, unpack = compat.pack, compat.unpack

--- Runs `f(...)` holding the store's lock (the one a guard holds, or taken
-- for the call). Returns true and what `f` returns, or `nil, message` when
-- the lock cannot be had. When another client of this process holds it,
-- `f` runs without it: that client cannot be writing now (one thread), and
-- every write is atomic.
function M.locked(self, f, ...)
  if self.held then
    return true, f(...)
  end
  local lock, err, here = self:lock()
  if not lock and not here then
    return nil, err
  end
  self.held = lock
  local results = pack(compat.pcall(f, ...))
  if lock then
    self.held = nil
    lock:unlock()
  end
  if not results[1] then
    error(results[2], 0)
  end
  return true, unpack(results, 2, results.n)
end

--- Runs `fn(doc, save_now)` on the store's content under its lock and
-- writes it back when `fn` returns true first; `save_now()` writes it at
-- once (returns true or `nil, message`), for a step that must be on disk
-- before the next one. An update inside an update works on the same
-- content. Returns true and what `fn` returns after its first value, or
-- `nil, message` when the lock cannot be had (`fn` was not run). A write
-- that fails is logged as a warning.
function M.update(self, log, fn)
  local open = self.open_doc
  if open then
    local results = pack(fn(open.doc, open.save_now))
    open.dirty = open.dirty or results[1]
    return true, unpack(results, 2, results.n)
  end
  return self:locked(function()
    local doc = self:content(log)
    self:fold_legacy(doc, log)
    open = { doc = doc, dirty = doc.reset }
    function open.save_now()
      local ok, err = self:write(doc)
      if not ok then
        log("warn", "account store %s not saved: %s", self.path, tostring(err))
        return nil, err
      end
      return true
    end
    self.open_doc = open
    local results = pack(compat.pcall(fn, doc, open.save_now))
    self.open_doc = nil
    if results[1] and (results[2] or open.dirty) then
      open.save_now()
    end
    if not results[1] then
      error(results[2], 0)
    end
    return unpack(results, 3, results.n)
  end)
end

-- The older files, once --------------------------------------------------

local function read_legacy(path)
  local t = store.decode_file(path)
  return type(t) == "table" and t or nil
end

--- Folds the older versions' ledger and ownership file into `doc` (read
-- under the lock) and removes them, once: a store of this version has
-- none left. Returns true when something was folded in (`doc` is then
-- written by the caller's update).
function M.fold_legacy(self, doc, log)
  if self.folded or self.broken then
    return false
  end
  self.folded = true
  local legacy = store.legacy_paths(self.path, self.account)
  local folded = false
  local function warn(section, reason)
    if log then
      log("warn", "account store %s: the older files' %s dropped: %s", self.path, section, reason)
    end
  end
  local function keep(v)
    return v
  end
  local ledger = read_legacy(legacy.ledger)
  if ledger and ledger.version == 1 and ledger.account == self.account then
    local sections = { guard = ledger.login, budget = ledger.budget, reads = ledger.reads,
                       mfa = ledger.mfa_pending }
    local now = self.clock()
    for name, s in pairs(sections) do
      if doc[name] == nil then
        local bad = type(s) ~= "table" and "not an object or list"
          or store.check_section(name, s, now, self.cfg, warn, keep)
        if bad then
          warn(name, bad)
        else
          doc[name] = s
          folded = true
        end
      end
    end
  end
  local owned = read_legacy(legacy.owned)
  if owned and owned.version == 1 and type(owned.sites) == "table" and doc.owned == nil then
    local o = { sites = owned.sites }
    local bad = store.check_section("owned", o, self.clock(), self.cfg, warn, keep)
    if bad then
      warn("owned", bad)
    else
      doc.owned = o
      folded = true
    end
  end
  if ledger or owned then
    local ok = self:write(doc)
    if ok then
      os.remove(legacy.ledger)
      os.remove(legacy.owned)
      os.remove(legacy.owned .. ".lock")
      if log then
        log("info", "account store %s: the older ledger and ownership files folded in",
          self.path)
      end
    end
  end
  return folded
end


return M
