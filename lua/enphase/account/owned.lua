--- The schedules this library created, so that timed actions and policies
-- touch only those and the windows a user made in the Enphase app survive.
--
-- Where: the API's schedules carry no field of ours (no name or note; the
-- limit and times are the user's), so ownership is recorded on our side,
-- by schedule id (a server UUID). With a token cache the records are the
-- `owned` section of the account store (store.lua), by site,
-- shared by every process of that account under the store's lock; without
-- one, they live as long as the client. Records whose schedule no longer
-- exists on the server are dropped when a list shows it, unless they are
-- younger than that list. (The client makes the in-memory table, `_owned`;
-- only this module reads or fills it.)
--
-- A record: `{mode="cfg"|"dtg"|"rbd", start_time=, end_time=, days=,
-- created=<epoch>, expires=<epoch, timed windows only>, turned_on=<the
-- timed action turned the mode on, or was about to>, known=<a pending
-- record's: the ids of the windows of its mode, times and days that were
-- there before its add was sent>}`, kept by schedule id, or by `?<mode>`
-- while a timed action has not learnt its window's id.
--
-- Adoption (a pending record whose process died after the server added
-- its window): the record takes the one window of its mode, times and days
-- that no record claims and that is not in its `known` list. A record
-- without `known` (killed before its add was sent, or written by an older
-- version) adopts nothing, and neither does one that sees two such
-- windows: a window a user made is never taken for ours (`match` says why).
local M = {}

local function site_key(client)
  local site = client.ctx.site:ids()
  return site and ("%d"):format(site) or "unknown"
end

-- Runs `change(records)` on this site's records (key -> record), saving
-- when it returns true. Returns what change returned.
local function update(client, change)
  local store = client.ctx.store
  if not store then
    local seen = client.ctx.read_only_store -- a dry run: read, never written
    if seen then
      local o = seen:content(client.ctx.log).owned
      local records = o and o.sites[site_key(client)] or {}
      return change(records)
    end
    return change(client.ctx.owned)
  end
  local key = site_key(client)
  local ok, result = store:update(client.ctx.log, function(doc)
    local o = doc.owned or { sites = {} }
    local records = o.sites[key] or {}
    local changed = change(records)
    if changed then
      o.sites[key] = next(records) and records or nil
      doc.owned = next(o.sites) and o or nil
    end
    return changed, changed
  end)
  if not ok then
    client.ctx.log("warn", "account store %s: schedule ownership not locked (%s); kept in this "
      .. "process only", store.path, tostring(result))
    return change(client.ctx.owned)
  end
  return result
end

--- This site's records: id -> record (a copy).
function M.records(client)
  local copy = {}
  update(client, function(records)
    for id, r in pairs(records) do
      copy[id] = r
    end
    return false
  end)
  return copy
end

--- Records schedule `id` as ours.
function M.add(client, id, record)
  update(client, function(records)
    records[id] = record
    return true
  end)
end

--- The key of a timed action's record before its window has an id (one
-- at a time per mode: a repeat replaces it).
function M.pending_key(mode)
  return "?" .. mode
end

--- True when `key` is a record waiting for its window's id.
function M.is_pending(key)
  return key:sub(1, 1) == "?"
end

--- Merges `fields` into the record of `key` (when it is still there).
function M.amend(client, key, fields)
  update(client, function(records)
    local r = records[key]
    if not r then
      return false
    end
    for k, v in pairs(fields) do
      r[k] = v
    end
    return true
  end)
end

--- The pending record of `key` gets its window's `id`: it is kept by id.
function M.complete(client, key, id)
  update(client, function(records)
    local r = records[key]
    if not r then
      return false
    end
    records[key], records[id] = nil, r
    r.known = nil -- kept by its id now: nothing left to adopt
    return true
  end)
end

--- The ids, in `list`, of the windows of mode `mode` with the times and
-- days of `r` (a record or a window: start_time, end_time, days).
function M.same_windows(list, mode, r)
  local ids = {}
  for _, s in ipairs(list[mode] or {}) do
    if s.start_time == r.start_time and s.end_time == r.end_time
      and table.concat(s.days or {}, ",") == table.concat(r.days or {}, ",") then
      ids[#ids + 1] = s.id
    end
  end
  return ids
end

-- The window of a pending record in `list`: the one of its mode, times and
-- days that no other record claims and that was not there before its add
-- (`r.known`). Returns its id, or nil and why none is taken: "none" (no
-- such window), "not sent" (the record has no `known` list: its add was
-- never sent, or an older version wrote it; any such window is a user's),
-- "ambiguous" (two or more: which one is ours cannot be told).
local NONE, NOT_SENT, AMBIGUOUS = "none", "not sent", "ambiguous"

local function match(list, r, records)
  local before = {}
  for _, id in ipairs(type(r.known) == "table" and r.known or {}) do
    before[id] = true
  end
  local found = {}
  for _, id in ipairs(M.same_windows(list, r.mode, r)) do
    if not records[id] and not before[id] then
      found[#found + 1] = id
    end
  end
  if #found == 0 then
    return nil, NONE
  elseif type(r.known) ~= "table" then
    return nil, NOT_SENT
  elseif #found > 1 then
    return nil, AMBIGUOUS
  end
  return found[1]
end
M.match = match

--- Says in the log why a pending record took no window when one of its
-- times was there (`why` from `match`): the user's window is left alone.
function M.explain(client, r, why)
  if why == NOT_SENT then
    client.ctx.log("info", "the timed %s window %s-%s on the server is not taken for ours (the "
      .. "run that meant to add it stopped before sending it, or its record cannot show that it "
      .. "did): left alone", r.mode, r.start_time, r.end_time)
  elseif why == AMBIGUOUS then
    client.ctx.log("warn", "a timed %s action stopped half-way and more than one %s-%s window "
      .. "could be the one it added: none is taken for ours, all are left alone (delete the "
      .. "extra one in the Enphase app)", r.mode, r.start_time, r.end_time)
  end
end

-- Drops the records whose id `gone(id)` names.
local function drop(client, gone)
  update(client, function(records)
    local changed = false
    for id in pairs(records) do
      if gone(id) then
        records[id] = nil
        changed = true
      end
    end
    return changed
  end)
end

--- Forgets the schedules of `ids` (a list).
function M.forget(client, ids)
  local forgotten = {}
  for _, id in ipairs(ids) do
    forgotten[id] = true
  end
  drop(client, function(id)
    return forgotten[id]
  end)
end

--- Drops the records whose schedule is not in `list` (a parsed schedule
-- list: {cfg=, dtg=, rbd=}) asked for at `listed_at`: never one younger
-- than the list (another process may have added its window after the
-- server answered). A timed action's pending record whose window is in the
-- list gets its id (the process that added it died first); one whose
-- window is not there waits for its expiry (timed.lua removes it).
function M.prune(client, list, listed_at)
  local present = {}
  for _, mode in ipairs({ "cfg", "dtg", "rbd" }) do
    for _, s in ipairs(list[mode] or {}) do
      present[s.id] = true
    end
  end
  update(client, function(records)
    local changed = false
    for key, r in pairs(records) do
      if M.is_pending(key) then
        local id = match(list, r, records)
        if id then
          records[key], records[id] = nil, r
          r.known = nil
          changed = true
        end
      elseif not present[key] and not (r.created and listed_at and r.created > listed_at) then
        records[key] = nil
        changed = true
      end
    end
    return changed
  end)
end

return M
