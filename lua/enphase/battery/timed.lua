--- Timed actions: "charge from the grid now for 45 minutes" and "discharge
-- to the grid now for an hour". Each makes a window from now in the site's
-- time zone (crossing midnight when it has to: the window belongs to the
-- day it starts, as the simulator and the schedule API count it), records
-- it as the library's own (owned.lua), and turns the mode on. A timed
-- window left behind after it ended would come back next week on the same
-- day: the next operation that writes schedules removes it (and turns the
-- mode off first, as the seed's October 2025 rule asks, when the action
-- turned it on and no other window of that mode is left).
local api = require("enphase.transport.api")
local schedules = require("enphase.battery.schedules")
local settings = require("enphase.battery.settings")
local owned = require("enphase.account.owned")
local validate = require("enphase.battery.validate")
local errors = require("enphase.errors")
local tz = require("enphase.util.tz")

local M = {}

local function hhmm(minute)
  return ("%02d:%02d"):format(minute // 60, minute % 60)
end

--- Removes the library's timed windows that have ended. Returns the number
-- removed, or `nil, message, kind`. Sends nothing when none has ended.
function M.remove_expired(client)
  local now = client.ctx.clock()
  local expired = {}
  for id, r in pairs(owned.records(client)) do
    if r.expires and r.expires <= now then
      expired[id] = r
    end
  end
  if next(expired) == nil then
    return 0
  end
  local list, err, kind = schedules.schedules(client)
  if not list then
    return nil, err, kind
  end
  local removed, gone = 0, {}
  for id, r in pairs(expired) do
    local left = 0
    local present = false
    for _, s in ipairs(list[r.mode]) do
      if s.id == id then
        present = true
      elseif not expired[s.id] then
        left = left + 1
      end
    end
    if not present then
      gone[#gone + 1] = id
    else
      if r.turned_on and left == 0 then
        local on = settings.settings(client)
        if on and settings.TOGGLES[r.mode].read(on) then
          local ok, terr, tkind = settings.toggle(client, r.mode, false)
          if not ok then
            return nil, terr, tkind
          end
          api.wait(client, client.ctx.config.toggle_delete_delay,
            "the seed's October 2025 rule: toggle first, then delete 2-3 s later")
        end
      end
      local ok, derr, dkind = schedules.delete_schedule(client, id)
      if not ok then
        return nil, derr, dkind
      end
      removed = removed + 1
      client.ctx.log("info", "removed the ended timed %s window %s-%s", r.mode, r.start_time,
        r.end_time)
    end
  end
  if not client.ctx.dry then
    owned.forget(client, gone)
  end
  return removed
end

local function timed(client, mode, minutes, opts)
  if math.type(minutes) ~= "integer" and not (type(minutes) == "number"
      and minutes == math.floor(minutes)) then
    return errors.fail("input", "minutes must be a whole number from 1 to 1439 (got %s)",
      tostring(minutes))
  end
  minutes = math.tointeger(minutes)
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
  -- Our own earlier timed windows of that mode that overlap this one give
  -- way; a user's window is never touched (add_schedule refuses the overlap).
  local list, lerr, lkind = schedules.schedules(client)
  if not list then
    return nil, lerr, lkind
  end
  local mine = owned.records(client)
  for _, s in ipairs(list[mode]) do
    local r = mine[s.id]
    if r and r.expires and validate.overlaps(checked, s) then
      local ok, derr, dkind = schedules.delete_schedule(client, s.id)
      if not ok then
        return nil, derr, dkind
      end
    end
  end
  local id, state, akind, pending_id = schedules.add_schedule(client, window)
  if not id then
    return nil, state, akind, pending_id
  end
  local expires = now - lt.sec + minutes * 60
  local spec = settings.TOGGLES[mode]
  local before, serr, skind = settings.settings(client)
  if not before then
    return nil, serr, skind
  end
  local turned_on = false
  if not spec.read(before) then
    local ok, terr, tkind = settings.toggle(client, mode, true)
    if not ok then
      return nil, terr, tkind
    end
    turned_on = true
  end
  if not client.ctx.dry then
    owned.add(client, id, { mode = mode, start_time = window.start_time,
      end_time = window.end_time, days = window.days, expires = expires, turned_on = turned_on })
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
function M.own_schedules(client)
  local out = {}
  for id, r in pairs(owned.records(client)) do
    out[#out + 1] = { id = id, mode = r.mode, start_time = r.start_time, end_time = r.end_time,
                      days = r.days, expires = r.expires }
  end
  table.sort(out, function(a, b)
    return a.id < b.id
  end)
  return out
end

return M
