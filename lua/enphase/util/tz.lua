--- Local time in a named (IANA) time zone, in pure Lua: the TZif files of
-- the system's zoneinfo (64-bit section; the footer's POSIX rule for times
-- after the last transition, "Mm.w.d[/time]" rules only). Used for schedule
-- windows "in the site's time zone" by the client and the simulator.
local compat = require("enphase.util.compat")
local floor = math.floor

local M = {}

M.ZONEINFO = { "/usr/share/zoneinfo", "/usr/lib/zoneinfo", "/usr/share/lib/zoneinfo" }

local zones = {}                -- name -> parsed zone (or false: unknown)

--- Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's).
function M.days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = floor((y >= 0 and y or y - 399) / 400)
  local yoe = y - era * 400
  local doy = floor((153 * (m + (m > 2 and -3 or 9)) + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

--- Epoch seconds of a UTC date and time.
function M.timegm(y, mo, d, h, mi, s)
  return M.days_from_civil(y, mo, d) * 86400 + (h or 0) * 3600 + (mi or 0) * 60 + (s or 0)
end

-- Day of week of epoch days: 1 = Monday ... 7 = Sunday (1970-01-01 was a Thursday).
local function weekday(days)
  return (days + 3) % 7 + 1
end

-- "Mm.w.d[/time]" -> the UTC epoch of that moment in `year`, given the
-- offset in force before it.
local function rule_time(rule, year, offset_before)
  local m, w, d = rule.month, rule.week, rule.day
  local first = M.days_from_civil(year, m, 1)
  local wd = (first + 4) % 7       -- 0 = Sunday
  local day = 1 + (d - wd) % 7 + (w - 1) * 7
  local mdays = M.days_from_civil(m == 12 and year + 1 or year, m == 12 and 1 or m + 1, 1) - first
  while day > mdays do
    day = day - 7
  end
  return (first + day - 1) * 86400 + rule.time - offset_before
end

local function parse_offset(s)
  local sign, h, m, sec = s:match("^([+-]?)(%d+):?(%d*):?(%d*)$")
  if not sign then
    return nil
  end
  local v = tonumber(h) * 3600 + (tonumber(m) or 0) * 60 + (tonumber(sec) or 0)
  return sign == "-" and -v or v
end

local function parse_rule(s)
  local m, w, d, t = s:match("^M(%d+)%.(%d)%.(%d)/?([-+%d:]*)$")
  if not m then
    return nil
  end
  return { month = tonumber(m), week = tonumber(w), day = tonumber(d),
           time = t ~= "" and parse_offset(t) or 7200 }
end

-- The footer "STDoffset[DST[offset],start,end]"; POSIX offsets are west-positive.
local function parse_footer(s)
  local std, rest = s:match("^(%b<>)(.*)$")
  if not std then
    std, rest = s:match("^(%a+)(.*)$")
  end
  if not std then
    return nil
  end
  local off, rest2 = rest:match("^([+-]?[%d:]+)(.*)$")
  if not off then
    return nil
  end
  local f = { std = -parse_offset(off) }
  if rest2 == "" then
    return f
  end
  local dst, rest3 = rest2:match("^(%b<>)(.*)$")
  if not dst then
    dst, rest3 = rest2:match("^(%a+)(.*)$")
  end
  if not dst then
    return f
  end
  local doff, rules = rest3:match("^([+-]?[%d:]*),(.*)$")
  if not doff then
    return f
  end
  f.dst = doff ~= "" and -parse_offset(doff) or f.std + 3600
  local a, b = rules:match("^([^,]+),([^,]+)$")
  f.start, f.finish = a and parse_rule(a), b and parse_rule(b)
  if not (f.start and f.finish) then
    f.dst = nil
  end
  return f
end

local function footer_offset(f, t)
  if not f.dst then
    return f.std
  end
  local y = tonumber(os.date("!%Y", t + f.std))
  local s = rule_time(f.start, y, f.std)
  local e = rule_time(f.finish, y, f.dst)
  if s < e then
    return (t >= s and t < e) and f.dst or f.std
  end
  return (t >= e and t < s) and f.std or f.dst
end

local function parse_tzif(data)
  if data:sub(1, 4) ~= "TZif" then
    return nil
  end
  local function counts(pos)
    local c = {}
    for i = 1, 6 do
      c[i] = compat.read_be(data, pos + 20 + 4 * (i - 1), 4, false)
    end
    return compat.unpack(c, 1, 6)
  end
  local isut, isstd, leap, timecnt, typecnt, charcnt = counts(1)
  local pos = 45
  local version = data:sub(5, 5)
  local tsize = 4
  if version >= "2" then
    pos = pos + timecnt * 5 + typecnt * 6 + charcnt + leap * 8 + isstd + isut
    isut, isstd, leap, timecnt, typecnt, charcnt = counts(pos)
    pos = pos + 44
    tsize = 8
  end
  local times, idx, types = {}, {}, {}
  for i = 1, timecnt do
    times[i] = compat.read_be(data, pos, tsize, true)
    pos = pos + tsize
  end
  for i = 1, timecnt do
    idx[i] = data:byte(pos) + 1
    pos = pos + 1
  end
  for i = 1, typecnt do
    types[i] = compat.read_be(data, pos, 4, true)
    pos = pos + 6
  end
  pos = pos + charcnt + leap * (tsize + 4) + isstd + isut
  local footer
  if tsize == 8 then
    local text = data:match("^\n([^\n]*)\n", pos)
    footer = text and text ~= "" and parse_footer(text) or nil
  end
  return { times = times, idx = idx, types = types, footer = footer }
end

local function load_zone(name)
  if zones[name] ~= nil then
    return zones[name]
  end
  local zone = false
  if name == "UTC" or name == "Etc/UTC" or name == "GMT" then
    zone = { times = {}, idx = {}, types = { 0 } }
  elseif name:match("^[%w_%-+]+[%w_/%-+]*$") and not name:find("%.%.") then
    for _, dir in ipairs(M.ZONEINFO) do
      local f = io.open(dir .. "/" .. name, "rb")
      if f then
        local data = f:read("*a")
        f:close()
        zone = parse_tzif(data or "") or false
        break
      end
    end
  end
  zones[name] = zone
  return zone
end

--- Is `name` a time zone this machine knows?
function M.known(name)
  return type(name) == "string" and load_zone(name) ~= false
end

--- Seconds east of UTC in zone `name` at epoch `t`, or nil and a message.
function M.offset(name, t)
  local z = type(name) == "string" and load_zone(name)
  if not z then
    return nil, ("unknown time zone %q"):format(tostring(name))
  end
  local times = z.times
  local n = #times
  if n == 0 or t < times[1] then
    if n == 0 and z.footer then
      return footer_offset(z.footer, t)
    end
    return z.types[1] or 0
  end
  if t >= times[n] and z.footer then
    return footer_offset(z.footer, t)
  end
  local lo, hi = 1, n
  while lo < hi do
    local mid = floor((lo + hi + 1) / 2)
    if times[mid] <= t then
      lo = mid
    else
      hi = mid - 1
    end
  end
  return z.types[z.idx[lo]] or 0
end

--- The local calendar at epoch `t` in zone `name`: `{year, month, day,
-- hour, min, sec, wday (1 = Monday ... 7 = Sunday), minute_of_day, offset}`,
-- or nil and a message.
function M.local_time(name, t)
  local off, err = M.offset(name, t)
  if not off then
    return nil, err
  end
  local lt = math.floor(t) + off
  local days = floor(lt / 86400)
  local d = os.date("!*t", lt)
  return {
    year = d.year, month = d.month, day = d.day, hour = d.hour, min = d.min, sec = d.sec,
    wday = weekday(days), minute_of_day = d.hour * 60 + d.min, offset = off, days = days,
  }
end

-- The instant in (lo, hi] where the offset in zone `name` changes from
-- the one at `lo` (bisection to the second; transitions fall on whole seconds).
local function transition(name, lo, hi)
  local before = M.offset(name, lo)
  lo, hi = floor(lo), math.ceil(hi)
  while hi - lo > 1 do
    local mid = floor((lo + hi) / 2)
    if M.offset(name, mid) == before then
      lo = mid
    else
      hi = mid
    end
  end
  return hi
end

--- The epoch of a local wall-clock time in zone `name`, or nil and a
-- message (an unknown zone). Where the clocks change, a local time may
-- happen twice or never:
--
-- * **twice** (the clocks go back: 01:30 on 25 October 2026 in
--   Europe/London, BST then GMT): the first occurrence (01:30 BST, 00:30
--   UTC); `opts.second = true` gives the second one (01:30 GMT, 01:30 UTC);
-- * **never** (the clocks go forward: 01:30 on 29 March 2026 in
--   Europe/London, where 01:00 GMT is followed by 02:00 BST): the time read
--   with the offset in force before the gap, i.e. moved forward by the gap
--   (02:30 BST, 01:30 UTC), as most libraries do (Python's zoneinfo with
--   fold=0, java.time); `opts.gap = "jump"` gives instead the instant the
--   clock jumps (02:00 BST, 01:00 UTC).
--
-- Every other local time has exactly one instant. The offsets looked at are
-- those a day either side, so two changes within a day are not seen.
-- @param name the zone ("Europe/London")
-- @param y year
-- @param mo month (1-12)
-- @param d day (days beyond the month's roll over: d + 1 is the next day)
-- @param h hour
-- @param mi minute
-- @param s second
-- @param opts optional: `{second = true}` for the second of a doubled time,
-- `{gap = "jump"}` for the clock's jump on a skipped time
-- @return epoch seconds
function M.to_epoch(name, y, mo, d, h, mi, s, opts)
  local wall = M.timegm(y, mo, d, h, mi, s)
  local before, err = M.offset(name, wall - 86400)
  if not before then
    return nil, err
  end
  local after = M.offset(name, wall + 86400)
  local first, second
  for _, off in ipairs({ before, after }) do
    local t = wall - off
    if M.offset(name, t) == off then
      first, second = math.min(first or t, t), math.max(second or t, t)
    end
  end
  if first then
    return (opts and opts.second) and second or first
  end
  -- never on the clock: read with the offset before the gap (after the
  -- jump, that is the wall time moved forward by the gap)
  local t = wall - before
  if opts and opts.gap == "jump" then
    return transition(name, wall - after, t)
  end
  return t
end

--- The epoch of the local midnight that starts the day holding `t`.
function M.midnight(name, t)
  local lt, err = M.local_time(name, t)
  if not lt then
    return nil, err
  end
  return M.to_epoch(name, lt.year, lt.month, lt.day, 0, 0, 0)
end

return M
