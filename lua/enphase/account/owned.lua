--- The schedules this library created, so that timed actions and policies
-- touch only those and the windows a user made in the Enphase app survive.
--
-- Where: the API's schedules carry no field of ours (no name or note; the
-- limit and times are the user's), so ownership is recorded on our side,
-- by schedule id (a server UUID). With a token cache the record is a file
-- beside it (`<cache>.owned.json`, written atomically, mode 0600, under a
-- file lock), shared by every process of that account; without one, it
-- lives as long as the client. Records whose schedule no longer exists on
-- the server are dropped when a list shows it. (The client makes the
-- in-memory table, `_owned`; only this module reads or fills it.)
--
-- A record: `{mode="cfg"|"dtg"|"rbd", start_time=, end_time=, days=,
-- expires=<epoch, timed windows only>, turned_on=<the timed action turned
-- the mode on>}`.
local native = require("enphase.transport.native")
local json = require("enphase.util.json")

local M = {}

M.VERSION = 1

local function path_of(client)
  local cache = client._cfg.token_cache
  if not cache then
    return nil
  end
  return (cache:gsub("%.json$", "")) .. ".owned.json"
end

local function site_key(client)
  local site = client._site:ids()
  return site and ("%d"):format(site) or "unknown"
end

-- The records of every site, from the file (a missing or unreadable file
-- is an empty record: ownership is a safeguard, not a reason to fail).
local function read_all(client, path)
  local f = io.open(path, "rb")
  if not f then
    return {}
  end
  local text = f:read("a")
  f:close()
  local t = json.decode(text or "")
  if type(t) ~= "table" or t.version ~= M.VERSION or type(t.sites) ~= "table" then
    client._log("warn", "ignoring an unreadable schedule ownership file %s", path)
    return {}
  end
  return t.sites
end

local function valid_record(r)
  return type(r) == "table" and (r.mode == "cfg" or r.mode == "dtg" or r.mode == "rbd")
end

-- Runs `change(records)` on this site's records (id -> record), saving
-- when it returns true. Returns what change returned.
local function update(client, change)
  local path = path_of(client)
  if not path then
    return change(client._owned)
  end
  local lock, lerr = native.lock(path, 10)
  if not lock then
    client._log("warn", "schedule ownership file not locked: %s", tostring(lerr))
  end
  local sites = read_all(client, path)
  local key = site_key(client)
  local records = type(sites[key]) == "table" and sites[key] or {}
  for id, r in pairs(records) do
    if not valid_record(r) then
      records[id] = nil
    end
  end
  local result = change(records)
  if result then
    sites[key] = next(records) and records or nil
    local ok, err = native.write_private(path, json.encode({ version = M.VERSION, sites = sites }))
    if not ok then
      client._log("warn", "schedule ownership not saved: %s", tostring(err))
    end
  end
  if lock then
    lock:unlock()
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
-- list: {cfg=, dtg=, rbd=}).
function M.prune(client, list)
  local present = {}
  for _, mode in ipairs({ "cfg", "dtg", "rbd" }) do
    for _, s in ipairs(list[mode] or {}) do
      present[s.id] = true
    end
  end
  drop(client, function(id)
    return not present[id]
  end)
end

return M
