--- The request budget: at most `budget` requests per sliding
-- `budget_window` seconds for all the processes of an account (the ledger
-- beside the token cache holds the stamps; without a cache, the client).
--
-- Every request the library sends is paid for before it leaves:
-- `budget.call(client, n, method, ...)` reserves the `n` requests a session
-- step sends at most, refuses with `nil, message, "budget"` (nothing sent)
-- when they do not fit, and charges what the step sent beyond `n`
-- (redirects) afterwards.
local compat = require("enphase.util.compat")
local ledger = require("enphase.account.ledger")

local M = {}

-- The ledger's stamps: a list of {second, count}, oldest first, each
-- checked (the file is not trusted); those out of the window are dropped,
-- and one in the future (a clock set ahead, then corrected) is taken as now.
local function stamps(t, since, now)
  local list = type(t.budget) == "table" and t.budget or {}
  local kept = {}
  for i = 1, #list do
    local e = list[i]
    local at, n = type(e) == "table" and e[1], type(e) == "table" and compat.tointeger(e[2])
    if type(at) == "number" and n and n > 0 and at > since then
      kept[#kept + 1] = { math.min(at, now), n }
    end
  end
  table.sort(kept, function(a, b)
    return a[1] < b[1]
  end)
  t.budget = kept
  return kept
end

local function used_of(list)
  local used = 0
  for i = 1, #list do
    used = used + list[i][2]
  end
  return used
end

local function add(list, at, n)
  local last = list[#list]
  if last and last[1] == at then
    last[2] = last[2] + n
  else
    list[#list + 1] = { at, n }
  end
end

-- When `n` more requests will fit: the time the oldest stamps leave the window.
local function free_at(list, used, n, limit, window)
  local excess = used + n - limit
  for i = 1, #list do
    excess = excess - list[i][2]
    if excess <= 0 then
      return list[i][1] + window
    end
  end
  return nil
end

--- Reserves `n` requests now. Returns true, or `nil, message, "budget"`.
function M.reserve(client, n, what)
  local cfg = client.ctx.config
  return ledger.update(client, function(t)
    local now = math.floor(client.ctx.clock())
    local list = stamps(t, now - cfg.budget_window, now)
    local used = used_of(list)
    if used + n > cfg.budget then
      local at = free_at(list, used, n, cfg.budget, cfg.budget_window)
      return true, nil, ("%s: not sent, the account's request budget is spent (%d of %d "
        .. "requests in %d s)%s"):format(what, used, cfg.budget, cfg.budget_window,
        at and (", room again in %d s"):format(math.max(1, math.ceil(at - now))) or ""), "budget"
    end
    add(list, now, n)
    return true, true
  end)
end

--- Charges `n` requests already sent (no check: they are gone).
function M.charge(client, n)
  if n <= 0 then
    return
  end
  ledger.update(client, function(t)
    local now = math.floor(client.ctx.clock())
    add(stamps(t, now - client.ctx.config.budget_window, now), now, n)
    return true
  end)
end

--- `session:<method>(...)` paid for: `n` requests reserved first; what it
-- sent beyond them charged after. Returns what the method returns, or
-- `nil, message, "budget"` without calling it.
function M.call(client, n, method, ...)
  local session = client.ctx.session
  local ok, err, kind = M.reserve(client, n, method)
  if not ok then
    client.ctx.log("warn", "%s", err)
    return nil, err, kind
  end
  local before = session:info().requests
  local results = compat.pack(session[method](session, ...))
  local alive, info = compat.pcall(session.info, session) -- closed meanwhile: nothing more was sent
  if alive then
    M.charge(client, info.requests - before - n)
  end
  return compat.unpack(results, 1, results.n)
end

--- `{used=, limit=, window=}`: the requests counted in the window now.
function M.usage(client)
  local cfg = client.ctx.config
  local t = ledger.peek(client)
  local now = math.floor(client.ctx.clock())
  local list = stamps({ budget = t.budget }, now - cfg.budget_window, now)
  return { used = used_of(list), limit = cfg.budget, window = cfg.budget_window }
end

--- The seconds until `n` more requests fit in the budget (0: they fit now).
function M.room_in(client, n)
  local cfg = client.ctx.config
  local t = ledger.peek(client)
  local now = math.floor(client.ctx.clock())
  local list = stamps({ budget = t.budget }, now - cfg.budget_window, now)
  local used = used_of(list)
  if used + n <= cfg.budget then
    return 0
  end
  local at = free_at(list, used, n, cfg.budget, cfg.budget_window)
  return at and math.max(1, math.ceil(at - now)) or cfg.budget_window
end

return M
