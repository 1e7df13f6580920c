--- Slow-changing reads answered from the ledger (option `max_age`).
--
-- `client:settings()` and `client:profile()` keep their answer in the
-- account's ledger (beside the token cache, so every process shares it);
-- while it is younger than `max_age` seconds the next call, in any process,
-- is answered from there without a request. Any write the library sends
-- forgets them. `max_age = 0` (the default) turns this off.
local ledger = require("enphase.account.ledger")

local M = {}

--- Wraps `read(client)` (a method returning a table or `nil, msg, kind`)
-- as the read called `name`.
function M.cached(name, read)
  return function(client, ...)
    if select("#", ...) > 0 then
      return read(client, ...)
    end
    local max_age = client.ctx.config.max_age
    if max_age <= 0 then
      return read(client)
    end
    local now = client.ctx.clock()
    local t = ledger.peek(client)
    local entry = type(t.reads) == "table" and t.reads[name]
    if type(entry) == "table" and type(entry.at) == "number" and type(entry.value) == "table"
      and now >= entry.at and now - entry.at < max_age then
      client.ctx.log("debug", "%s answered from the ledger (%d s old)", name,
        math.floor(now - entry.at)) -- the wall clock has fractions: %d needs an integer
      return entry.value
    end
    local value, err, kind = read(client)
    if not value then
      return nil, err, kind
    end
    ledger.update(client, function(l)
      l.reads = type(l.reads) == "table" and l.reads or {}
      l.reads[name] = { at = now, value = value }
      return true
    end)
    return value
  end
end

--- After a write: the cached reads may be wrong now.
function M.forget(client)
  if client.ctx.config.max_age <= 0 then
    return
  end
  ledger.update(client, function(l)
    local had = l.reads ~= nil
    l.reads = nil
    return had
  end)
end

return M
