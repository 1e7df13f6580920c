--- Timed actions: "charge from the grid now for 45 minutes" and "discharge
-- to the grid now for an hour". Each makes a window from now in the site's
-- time zone (crossing midnight when it has to: the window belongs to the
-- day it starts, as the simulator and the schedule API count it), records
-- it as the library's own (owned.lua), and turns the mode on. A timed
-- window left behind after it ended would come back next week on the same
-- day: the next operation that writes schedules removes it (and turns the
-- mode off first, as the seed's October 2025 rule asks, when the action
-- turned it on and no other window of that mode is left).
local compat = require("enphase.util.compat")
local api = require("enphase.transport.api")
local schedules = require("enphase.battery.schedules")
local settings = require("enphase.battery.settings")
local owned = require("enphase.account.owned")
local validate = require("enphase.battery.validate")
local errors = require("enphase.errors")
local json = require("enphase.util.json")
local tz = require("enphase.util.tz")

local M = {}

-- A step of a timed action, in the debug log (the specs' kill points).
local function step(client, mode, what)
  client.ctx.log("debug", "timed %s: %s", mode, what)
end

local function hhmm(minute)
  return ("%02d:%02d"):format(math.floor(minute / 60), minute % 60)
end

-- The timed records of `records` (key -> record) that have ended at `now`.
local function ended(records, now)
  local out = {}
  for key, r in pairs(records) do
    if r.expires and r.expires <= now then
      out[key] = r
    end
  end
  return out
end

-- The window of record `key` in `list`: its id, or nil when it is gone (a
-- pending record: the window of its times that no other record claims and
-- that was not there before its add; none when that cannot be told, and
-- the log says so: a user's window is never taken for ours).
local function window_of(client, list, key, r, records)
  if owned.is_pending(key) then
    local id, why = owned.match(list, r, records)
    if not id then
      owned.explain(client, r, why)
    end
    return id
  end
  for _, s in ipairs(list[r.mode] or {}) do
    if s.id == key then
      return key
    end
  end
  return nil
end

-- Turns `mode` off when a timed action turned it on and no other window
-- of that mode is left, then waits as the seed's October 2025 rule asks
-- (toggle first, delete 2-3 s later).
local function turn_off_first(client, r, others_left)
  if not r.turned_on or others_left > 0 then
    return true
  end
  local on = settings.settings(client)
  if on and settings.TOGGLES[r.mode].read(on) then
    local ok, terr, tkind = settings.toggle(client, r.mode, false)
    if not ok then
      return nil, terr, tkind
    end
    api.wait(client, client.ctx.config.toggle_delete_delay,
      "the seed's October 2025 rule: toggle first, then delete 2-3 s later")
  end
  return true
end

-- Deletes the windows of the records `which` (key -> record) found in
-- `list`, turning their mode off first when they turned it on, and forgets
-- the records. Returns the number deleted, or `nil, message, kind`.
local function remove_windows(client, list, which, records)
  local ids, removed, gone = {}, 0, {}
  for key, r in pairs(which) do
    ids[key] = window_of(client, list, key, r, records)
  end
  local leaving = {}
  for _, id in pairs(ids) do
    leaving[id] = true
  end
  for key, r in pairs(which) do
    local id = ids[key]
    if id then
      local left = 0
      for _, s in ipairs(list[r.mode]) do
        if not leaving[s.id] then
          left = left + 1
        end
      end
      local ok, err, kind = turn_off_first(client, r, left)
      if not ok then
        return nil, err, kind
      end
      ok, err, kind = schedules.delete_schedule(client, id)
      if not ok then
        return nil, err, kind
      end
      removed = removed + 1
      client.ctx.log("info", "removed the timed %s window %s-%s", r.mode, r.start_time, r.end_time)
    end
    gone[#gone + 1] = key
  end
  if not client.ctx.dry then
    owned.forget(client, gone)
  end
  return removed
end

--- Removes the library's timed windows that have ended, those of timed
-- actions that failed or were killed half-way included. Returns the number
-- removed, or `nil, message, kind`. Sends nothing when none has ended.
function M.remove_expired(client)
  if next(ended(owned.records(client), client.ctx.clock())) == nil then
    return 0
  end
  local list, err, kind = schedules.schedules(client)
  if not list then
    return nil, err, kind
  end
  local records = owned.records(client) -- the list may have completed some
  return remove_windows(client, list, ended(records, client.ctx.clock()), records)
end

-- A failure after the window was recorded: the message says what is left.
--- Adds a schedule `{type=, start_time=, end_time=, days=, limit=, timezone=}`
-- (limit defaults to 100 for CFG and 6 for DTG; timezone to the site's),
-- once the library's ended timed windows, which may stand in its way, are
-- removed. Returns `id, "applied"`, or `nil, msg, kind` ("pending" with the
-- id as a fourth value when the server has not applied it yet; "conflict"
-- with the server's code as a fourth value).
function M.add_schedule(client, spec)
  return schedules.internal.add(client, spec, nil, M.remove_expired)
end

local function left_behind(window, expires, err)
  return ("%s (the window %s-%s was added; it is removed by the first run after it ends at %s, "
    .. "or replaced when the action is run again)"):format(err, window.start_time,
    window.end_time, os.date("!%Y-%m-%d %H:%M:%SZ", math.floor(expires)))
end

local function timed(client, mode, minutes, opts)
  if not compat.isinteger(minutes) and not (type(minutes) == "number"
      and minutes == math.floor(minutes)) then
    return errors.fail("input", "minutes must be a whole number from 1 to 1439 (got %s)",
      tostring(minutes))
  end
  minutes = compat.tointeger(minutes)
  if minutes < 1 or minutes > 1439 then
    return errors.fail("input", "minutes must be a whole number from 1 to 1439 (got %d)", minutes)
  end
  if opts ~= nil and type(opts) ~= "table" then
    return errors.fail("input", "opts must be a table such as {limit=90, timezone=\"Europe/London\"}")
  end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "limit" and k ~= "timezone" then
      return errors.fail("input", "unknown option %q (allowed: limit, timezone)", tostring(k))
    end
  end
  if opts.timezone ~= nil then
    local ok, err = validate.timezone("timezone", opts.timezone)
    if not ok then
      return nil, err, "input"
    end
  end
  local limit = opts.limit
  if limit == nil then
    limit = mode == "cfg" and 100 or 6
  end
  -- every field but the times is checked before anything is sent
  local _, field_err = validate.schedule({ type = mode:upper(), start_time = "00:00",
    end_time = "01:00", days = { 1 }, limit = limit, timezone = opts.timezone or "UTC" })
  if field_err then
    return nil, field_err, "input"
  end
  local zone = opts.timezone
  if zone == nil and client.ctx.dry then
    -- a dry run sends nothing, so it cannot ask the site: the window's
    -- times need the zone given, configured or cached
    zone = client:timezone()
    if zone == nil then
      return errors.fail("input", "a dry run of a timed action needs the site's time zone "
        .. "(ENPHASE_TIMEZONE, opts.timezone, or a token cache that knows it): the window "
        .. "is in local time")
    end
  elseif zone == nil then
    zone = require("enphase.account.auth").timezone(client)
  end
  if not tz.known(zone) then
    return errors.fail("input", "the site's time zone %s is not known on this machine (give "
      .. "opts.timezone, an IANA name)", tostring(zone))
  end
  local removed, rerr, rkind = M.remove_expired(client)
  if not removed then
    return nil, rerr, rkind
  end
  local now = client.ctx.clock()
  local lt = tz.local_time(zone, now)
  local from = lt.minute_of_day
  local window = {
    type = mode:upper(), start_time = hhmm(from), end_time = hhmm((from + minutes) % 1440),
    days = { lt.wday }, limit = limit, timezone = zone,
  }
  local checked, verr = validate.schedule(window)
  if not checked then
    return nil, verr, "input"
  end
  -- A repeat replaces: our earlier timed windows of that mode (those of a
  -- run that failed half-way included) give way; a user's window is never
  -- touched (add_schedule refuses the overlap).
  local list, lerr, lkind = schedules.schedules(client)
  if not list then
    return nil, lerr, lkind
  end
  local mine = owned.records(client)
  local earlier, inherited = {}, nil
  for key, r in pairs(mine) do
    if r.mode == mode and r.expires then
      earlier[key] = r
      inherited = inherited or r.turned_on -- the mode is on because of us
    end
  end
  if next(earlier) then
    local ok, derr, dkind = remove_windows(client, list, earlier, mine)
    if not ok then
      return nil, derr, dkind
    end
  end
  -- The transaction: the intent and its expiry are on disk before the
  -- window is added; whatever happens next (a failure, a kill), the next
  -- run finishes the record or removes the window once it has ended.
  local expires = now - lt.sec + minutes * 60
  local key = owned.pending_key(mode)
  if not client.ctx.dry then
    owned.add(client, key, { mode = mode, start_time = window.start_time,
      end_time = window.end_time, days = window.days, expires = expires, created = now,
      turned_on = inherited or nil })
  end
  step(client, mode, "intent recorded")
  local recorded = key
  -- Just before the POST: the windows already there with these times are
  -- not ours, whatever happens next (a kill before the id is recorded must
  -- not adopt a user's identical window).
  local function before_send(listed)
    if not client.ctx.dry then
      owned.amend(client, key, { known = json.array(owned.same_windows(listed, mode, window)) })
    end
    step(client, mode, "add about to be sent")
  end
  local id, state, akind, pending_id = schedules.internal.add(client, window, function(new_id)
    step(client, mode, "window added")
    owned.complete(client, key, new_id)
    recorded = new_id
  end, nil, before_send)
  if not id then
    if recorded ~= key or pending_id then
      state = left_behind(window, expires, state)
    elseif (akind == "input" or akind == "conflict") and not client.ctx.dry then
      owned.forget(client, { key }) -- refused: no window was added
    end
    return nil, state, akind, pending_id
  end
  local spec = settings.TOGGLES[mode]
  local before, serr, skind = settings.settings(client)
  if not before then
    return nil, left_behind(window, expires, serr), skind
  end
  if not spec.read(before) then
    if not client.ctx.dry then
      owned.amend(client, id, { turned_on = true }) -- before: a kill must not leave it on
    end
    local ok, terr, tkind = settings.toggle(client, mode, true)
    if not ok then
      return nil, left_behind(window, expires, terr), tkind
    end
    step(client, mode, "mode turned on")
  end
  client.ctx.log("info", "%s on for %d minutes: window %s-%s (%s)", mode, minutes, window.start_time,
    window.end_time, zone)
  return id, { start_time = window.start_time, end_time = window.end_time, days = window.days,
               expires = expires, timezone = zone, limit = limit }
end

--- Charges from the grid from now for `minutes` (1-1439) up to `opts.limit`
-- percent (default 100): a CFG window from now, and charge from grid on.
-- Returns the schedule id and `{start_time, end_time, days, expires,
-- timezone, limit}`, or `nil, message, kind`.
function M.charge_for(client, minutes, opts)
  return timed(client, "cfg", minutes, opts)
end

--- Discharges to the grid from now for `minutes` down to `opts.limit`
-- percent (default 6): a DTG window from now, and discharge to grid on.
function M.discharge_for(client, minutes, opts)
  return timed(client, "dtg", minutes, opts)
end

--- The library's own schedules on this site: a list of `{id, mode,
-- start_time, end_time, days, expires}` (expires only for timed windows).
-- A timed action that has not learnt its window's id yet has no `id` and
-- `pending = true`.
function M.own_schedules(client)
  local out, keys = {}, {}
  for key, r in pairs(owned.records(client)) do
    local pending = owned.is_pending(key)
    out[#out + 1] = { id = not pending and key or nil, mode = r.mode, start_time = r.start_time,
                      end_time = r.end_time, days = r.days, expires = r.expires,
                      pending = pending or nil }
    keys[out[#out]] = key
  end
  table.sort(out, function(a, b)
    return keys[a] < keys[b]
  end)
  return out
end

return M
