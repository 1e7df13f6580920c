--- Input rules: every value a user gives is checked here before anything is
-- sent. Each checker returns the normalised value, or `nil, message` where
-- the message names the field and the values allowed.
local M = {}

local compat = require("enphase.util.compat")
local show = require("enphase.util.redact").quote

local function bad(field, allowed, got)
  return nil, ("%s must be %s (got %s)"):format(field, allowed, show(got))
end

M.SCHEDULE_TYPES = { CFG = true, DTG = true, RBD = true }
-- The battery controls ("modes"): charge from grid, discharge to grid,
-- restrict battery discharge. ("kind" is a failure's kind, errors.lua.)
M.MODES = { cfg = true, dtg = true, rbd = true }
M.PROFILES = {
  ["self-consumption"] = true,
  cost_savings = true,
  backup_only = true,
  ai_optimisation = true,
}

function M.boolean(field, v)
  if type(v) ~= "boolean" then
    return bad(field, "true or false", v)
  end
  return v
end

--- "CFG", "DTG" or "RBD" (lower case accepted).
function M.schedule_type(field, v)
  local up = type(v) == "string" and v:upper()
  if not (up and M.SCHEDULE_TYPES[up]) then
    return bad(field, "one of CFG, DTG, RBD", v)
  end
  return up
end

--- "cfg", "dtg", "rbd", and "all" when `allow_all`.
function M.mode(field, v, allow_all)
  local low = type(v) == "string" and v:lower()
  if low and (M.MODES[low] or (allow_all and low == "all")) then
    return low
  end
  return bad(field, allow_all and "one of cfg, dtg, rbd, all" or "one of cfg, dtg, rbd", v)
end

--- "HH:MM" from 00:00 to 23:59; returns the string and minutes after midnight.
function M.time(field, v)
  local h, m
  if type(v) == "string" then
    h, m = v:match("^(%d%d):(%d%d)$")
  end
  h, m = tonumber(h), tonumber(m)
  if not h or h > 23 or m > 59 then
    return bad(field, "a time HH:MM from 00:00 to 23:59", v)
  end
  return v, h * 60 + m
end

--- An integer in [lo, hi] (integral floats accepted).
function M.integer(field, v, lo, hi)
  local n = type(v) == "number" and compat.tointeger(v)
  if not n or n < lo or n > hi then
    return bad(field, ("an integer from %d to %d"):format(lo, hi), v)
  end
  return n
end

--- A number typed as text ("30", "30.0") as the number checkers take it:
-- the integer when it is one, else the text as given, so that the checker's
-- message names what was typed. The CLI (`enphase reserve 30`) and the MQTT
-- bridge (a reserve command's payload) read numbers through this.
function M.number_word(text)
  local n = tonumber(text)
  if n and n == n and n == math.floor(n) and n >= -2 ^ 53 and n <= 2 ^ 53 then
    return math.floor(n)
  end
  return text
end

--- A non-empty list of distinct days 1..7 (1 = Monday), returned sorted.
function M.days(field, v)
  local allowed = "a non-empty list of days 1-7 (1 = Monday ... 7 = Sunday), each once"
  if type(v) ~= "table" or #v == 0 then
    return bad(field, allowed, v)
  end
  local seen, out = {}, {}
  for i = 1, #v do
    local d = type(v[i]) == "number" and compat.tointeger(v[i])
    if not d or d < 1 or d > 7 or seen[d] then
      return bad(field, allowed, v[i])
    end
    seen[d] = true
    out[#out + 1] = d
  end
  table.sort(out)
  return out
end

--- An IANA time zone name such as "Europe/London", "America/Argentina/Salta" or "UTC".
function M.timezone(field, v)
  local ok = type(v) == "string" and #v <= 64
    and (v == "UTC" or v:match("^%u[%a_]*/[%w_+%-]+$") or v:match("^%u[%a_]*/[%w_+%-]+/[%w_+%-]+$"))
  if not ok then
    return bad(field, 'an IANA time zone name such as "Europe/London" or "UTC"', v)
  end
  return v
end

--- A schedule id as the server gives it (a UUID).
function M.schedule_id(field, v)
  if type(v) ~= "string" or not v:match("^[%w%-]+$") or #v > 64 then
    return bad(field, "a schedule id (letters, digits and dashes, as listed)", v)
  end
  return v
end

function M.profile(field, v)
  if type(v) ~= "string" or not M.PROFILES[v] then
    return bad(field, "one of self-consumption, cost_savings, backup_only, ai_optimisation", v)
  end
  return v
end

M.DEFAULT_LIMIT = { CFG = 100, DTG = 6, RBD = 100 }

-- A value the cloud itself returned, written back unchanged: accepted when
-- it has the right type, whatever our own range (a DTG `limit: 5` the
-- Enphase app made; a time zone name our pattern does not know).
local function unchanged(v, cloud_value, kind)
  if cloud_value == nil or v ~= cloud_value then
    return nil
  end
  if kind == "limit" then
    local n = type(v) == "number" and compat.tointeger(v)
    return n and n >= 0 and n <= 100 and n or nil
  end
  return type(v) == "string" and #v > 0 and #v <= 64 and not v:find("[%c\"]") and v or nil
end

--- Checks a whole schedule; `defaults` gives `timezone` when the spec has none.
-- `cloud` (optional): the schedule as the server listed it; its own `limit`
-- and `timezone`, written back unchanged, are accepted as they are.
-- Returns the server payload fields in snake_case:
-- `{type, start_time, end_time, start_minute, end_minute, days, limit, timezone}`.
function M.schedule(spec, defaults, cloud)
  if type(spec) ~= "table" then
    return bad("schedule", "a table {type=, start_time=, end_time=, days=, limit=, timezone=}", spec)
  end
  local known = { type = true, start_time = true, end_time = true, days = true, limit = true,
                  timezone = true }
  for k in pairs(spec) do
    if not known[k] then
      return nil, ("unknown schedule field %s (allowed: type, start_time, end_time, days, "
        .. "limit, timezone)"):format(show(k))
    end
  end
  local out = {}
  local err
  out.type, err = M.schedule_type("type", spec.type)
  if not out.type then
    return nil, err
  end
  out.start_time, out.start_minute = M.time("start_time", spec.start_time)
  if not out.start_time then
    return nil, out.start_minute
  end
  out.end_time, out.end_minute = M.time("end_time", spec.end_time)
  if not out.end_time then
    return nil, out.end_minute
  end
  if out.start_minute == out.end_minute then
    return nil, ("end_time must differ from start_time (both %s)"):format(out.start_time)
  end
  out.days, err = M.days("days", spec.days)
  if not out.days then
    return nil, err
  end
  local limit = spec.limit
  if limit == nil then
    limit = M.DEFAULT_LIMIT[out.type]
  end
  out.limit = unchanged(limit, cloud and cloud.limit, "limit")
  if not out.limit then
    out.limit, err = M.integer("limit", limit, 6, 100)
  end
  if not out.limit then
    return nil, err
  end
  local tz = spec.timezone or (defaults and defaults.timezone)
  if tz == nil then
    return nil, 'timezone is required (an IANA name such as "Europe/London"): the site\'s '
      .. "time zone is not known"
  end
  out.timezone = unchanged(tz, cloud and cloud.timezone, "timezone")
  if out.timezone then
    return out
  end
  out.timezone, err = M.timezone("timezone", tz)
  if not out.timezone then
    return nil, err
  end
  return out
end

local WEEK = 7 * 1440

-- The windows of a schedule as [from, to) minutes of the week; a window that
-- ends at or before it starts runs past midnight into the next day.
local function windows(s)
  local list = {}
  for _, d in ipairs(s.days) do
    local from = (d - 1) * 1440 + s.start_minute
    local length = (s.end_minute - s.start_minute) % 1440
    list[#list + 1] = { from, from + length }
  end
  return list
end

local function minutes(hhmm)
  local _, m = M.time("time", hhmm)
  return m
end

--- True when schedules `a` and `b` (start_time, end_time, days) share a minute.
function M.overlaps(a, b)
  a = { days = a.days, start_minute = a.start_minute or minutes(a.start_time),
        end_minute = a.end_minute or minutes(a.end_time) }
  b = { days = b.days, start_minute = b.start_minute or minutes(b.start_time),
        end_minute = b.end_minute or minutes(b.end_time) }
  if not (a.start_minute and a.end_minute and b.start_minute and b.end_minute) then
    return false
  end
  for _, x in ipairs(windows(a)) do
    for _, y in ipairs(windows(b)) do
      for _, shift in ipairs({ -WEEK, 0, WEEK }) do
        if x[1] < y[2] + shift and y[1] + shift < x[2] then
          return true
        end
      end
    end
  end
  return false
end

return M
