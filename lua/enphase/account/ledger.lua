--- The account's ledger: what every process of one account must share to
-- behave well together (the lock-out guard's memory, the request budget's
-- stamps, slow-changing reads, a multi-factor login under way).
--
-- With a token cache it is a private JSON file beside the cache, one per
-- account (`<cache>.<16 hex of the account key>.ledger`, mode 0600, written
-- atomically), read and written under the cache's own lock, so that what
-- one process decides (a login, a request) is seen by the next one. Without
-- a token cache it is a table in the client. A missing, corrupt or foreign
-- file is an empty ledger, never an error: each section's owner
-- (lockout.lua, budget.lua, reads.lua, mfa.lua) checks its own fields.
local native = require("enphase.transport.native")
local json = require("enphase.util.json")

local M = {}

M.VERSION = 1

-- A ledger is a few kilobytes; anything much larger is not ours.
local MAX_SIZE = 512 * 1024

--- The ledger file of a token cache (its `path` and `account` key).
function M.path(store)
  return store.path .. "." .. store.account:sub(1, 16) .. ".ledger"
end

local function empty(account)
  return { version = M.VERSION, account = account }
end

-- The file's content, or an empty ledger when it is missing or not ours.
local function read(path, account)
  local f = io.open(path, "rb")
  if not f then
    return empty(account)
  end
  local text = f:read(MAX_SIZE + 1)
  f:close()
  local t = text and #text <= MAX_SIZE and json.decode(text)
  if type(t) ~= "table" or t.version ~= M.VERSION or t.account ~= account then
    return empty(account)
  end
  return t
end

--- A client's own ledger: the one used without a token cache (or when
-- its lock cannot be had). The client keeps it as `_ledger`.
function M.new()
  return empty(nil)
end

--- The ledger as it is now, without the lock (for display only).
function M.peek(client)
  local store = client._cache
  if not store then
    return client._ledger
  end
  return read(M.path(store), store.account)
end

-- The client's own ledger (no cache, or its lock could not be had).
local function own(client, fn)
  return select(2, fn(client._ledger))
end

-- The ledgers being updated, by cache: an update inside an update (the
-- budget paying for a login's requests) works on the same table.
local open_ledgers = setmetatable({}, { __mode = "k" })

-- Reads the ledger, runs `fn` on it and writes it back when asked; the
-- caller holds the lock.
local function run(client, store, fn)
  local path = M.path(store)
  local open = { t = read(path, store.account) }
  open_ledgers[store] = open
  local results = table.pack(pcall(fn, open.t))
  open_ledgers[store] = nil
  if results[1] and (results[2] or open.dirty) then
    local ok, werr = native.write_private(path, json.encode(open.t))
    if not ok then
      client._log("warn", "ledger not saved: %s", werr)
    end
  end
  if not results[1] then
    error(results[2], 0)
  end
  return table.unpack(results, 3, results.n)
end

--- Runs `fn(ledger)` on the account's ledger under the cache's lock (the
-- one a guard already holds, or taken for the call) and writes it back
-- when `fn` returns `dirty` first; `update` returns what `fn` returns after
-- it. With `session`, the lock is taken as the cache's guard, which saves
-- the session when released (a login runs inside `fn`); otherwise `fn`
-- must not send anything. When the lock cannot be had, `fn` runs on the
-- client's own ledger.
function M.update(client, fn, session)
  local store = client._cache
  if not store then
    return own(client, fn)
  end
  local open = open_ledgers[store]
  if open then
    local results = table.pack(fn(open.t))
    open.dirty = open.dirty or results[1]
    return table.unpack(results, 2, results.n)
  end
  local results
  if session and not store.held then
    local guard = store:guard(client, true)
    if guard then
      results = table.pack(pcall(run, client, store, fn))
      guard:release()
      if not results[1] then
        error(results[2], 0)
      end
    end
  else
    results = table.pack(store:locked(run, client, store, fn))
  end
  if not (results and results[1]) then
    client._log("warn", "ledger: %s; using this process's own",
      results and results[2] or "the token cache's lock could not be had")
    return own(client, fn)
  end
  return table.unpack(results, 2, results.n)
end

return M
