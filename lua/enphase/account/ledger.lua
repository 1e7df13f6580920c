--- The account's ledger: what every process of one account must share to
-- behave well together (the lock-out guard's memory, the request budget's
-- stamps, slow-changing reads, a multi-factor login under way, the
-- schedules this library created).
--
-- With a token cache these are sections of the account store
-- (store.lua: one private file per account), read and written
-- under its one lock, so that what one process decides (a login, a
-- request) is seen by the next one. Without a token cache the ledger is a
-- table in the client. Each section is checked when read (store.lua);
-- each section's owner (guard.lua, budget.lua, reads.lua, mfa.lua,
-- owned.lua) keeps its own fields.
local compat = require("enphase.util.compat")
local M = {}

--- A client's own ledger: the one used without a token cache (or when
-- the store's lock cannot be had). The client keeps it as `_ledger`.
function M.new()
  return {}
end

--- The ledger as it is now, without the lock (for display only).
function M.peek(client)
  local store = client.ctx.store
  if not store then
    return client.ctx.ledger
  end
  return (store:content(client.ctx.log))
end

-- Nothing to save without a store: the client's own ledger is in memory.
local function saved_in_memory()
  return true
end

-- The client's own ledger (no cache, or its lock could not be had); `why`:
-- the store could not be used, and a step that must be on disk fails.
local function own(client, fn, why)
  local save_now = saved_in_memory
  if why then
    save_now = function()
      return nil, why
    end
  end
  return select(2, fn(client.ctx.ledger, save_now))
end

local pack = compat.pack or function(...)
  return { n = select("#", ...), ... }
end
local unpack = compat.unpack or rawget(_G, "unpack")

--- Runs `fn(ledger, save_now)` on the account's ledger under the store's
-- lock (the one a guard already holds, or taken for the call) and writes
-- it back when `fn` returns `dirty` first; `update` returns what `fn`
-- returns after it. `save_now()` writes the ledger at once and returns true
-- or `nil, message` (a step that must be on disk before the next one: the
-- lock-out guard's mark before a login). With `session`, the lock is taken
-- as the cache's guard, which saves the session when released (a login
-- runs inside `fn`); otherwise `fn` must not send anything. When the lock
-- cannot be had, `fn` runs on the client's own ledger and `save_now()`
-- fails.
function M.update(client, fn, session)
  local store = client.ctx.store
  if not store then
    return own(client, fn)
  end
  local results
  if session and not store.held and not store.open_doc then
    local guard, err, here = store:guard(client, true)
    if guard then
      results = pack(compat.pcall(store.update, store, client.ctx.log, fn))
      guard:release()
      if not results[1] then
        error(results[2], 0)
      end
      results = pack(unpack(results, 2, results.n))
    elseif not here then
      results = { nil, err }
    end
  end
  -- `here`: another client of this process holds the lock; it cannot be
  -- writing now (one thread), and every write is atomic
  results = results or pack(store:update(client.ctx.log, fn))
  if not results[1] then
    local why = ("the account store's lock could not be had (%s)"):format(tostring(results[2]))
    client.ctx.log("warn", "account store %s: %s; using this process's own ledger", store.path, why)
    return own(client, fn, why)
  end
  return unpack(results, 2, results.n)
end

return M
