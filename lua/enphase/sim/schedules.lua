-- Battery schedules (CFG / DTG / RBD): list, create, update, delete, with the
-- input checks, the per-type overlap rule (409 CONFLICTING_SCHEDULE_<TYPE>)
-- and the pending -> active transition on the sim clock.
local compat = require("enphase.util.compat")
local http = require("enphase.sim.http")
local jwt = require("enphase.sim.jwt")
local battery = require("enphase.sim.battery")

local M = {}

local FIELDS = { "timezone", "startTime", "endTime", "limit", "scheduleType", "days", "isEnabled" }
local TYPES = { CFG = true, DTG = true, RBD = true }

local function minutes(s)
  if type(s) ~= "string" then
    return nil
  end
  local h, m = s:match("^(%d%d):(%d%d)$")
  h, m = tonumber(h), tonumber(m)
  if not h or h > 23 or m > 59 then
    return nil
  end
  return h * 60 + m
end

--- Check a schedule payload; `base` (an existing schedule) fills the fields
-- an update leaves out; `min_limit` is the lowest limit taken (6, or 0 in
-- the captured shape: the cloud holds the Enphase app's DTG `limit: 5`).
-- Returns the normalised fields or nil and a message.
function M.validate(body, base, default_tz, min_limit)
  local f = {}
  for _, k in ipairs(FIELDS) do
    local v = body[k]
    if v == nil and base then
      v = base[k]
    end
    f[k] = v
  end
  if f.isEnabled == nil then
    f.isEnabled = true
  end
  if f.timezone == nil then
    f.timezone = default_tz
  end
  if type(f.scheduleType) ~= "string" or not TYPES[f.scheduleType:upper()] then
    return nil, "scheduleType must be CFG, DTG or RBD"
  end
  f.scheduleType = f.scheduleType:upper()
  local s, e = minutes(f.startTime), minutes(f.endTime)
  if not s then
    return nil, "startTime must be HH:MM"
  end
  if not e then
    return nil, "endTime must be HH:MM"
  end
  if s == e then
    return nil, "startTime and endTime must differ"
  end
  local limit = compat.tointeger(f.limit)
  min_limit = min_limit or 6
  if not limit or limit < min_limit or limit > 100 then
    return nil, string.format("limit must be an integer %d..100", min_limit)
  end
  f.limit = limit
  if type(f.days) ~= "table" or #f.days == 0 then
    return nil, "days must be a non-empty array of integers 1..7"
  end
  local seen, days = {}, {}
  for _, d in ipairs(f.days) do
    local i = compat.tointeger(d)
    if not i or i < 1 or i > 7 then
      return nil, "days must be a non-empty array of integers 1..7"
    end
    if not seen[i] then
      seen[i] = true
      days[#days + 1] = i
    end
  end
  table.sort(days)
  f.days = days
  if type(f.timezone) ~= "string" or f.timezone == "" then
    return nil, "timezone must be a string"
  end
  if type(f.isEnabled) ~= "boolean" then
    return nil, "isEnabled must be a boolean"
  end
  return f
end

-- The minutes of a day a window covers, as [from, to) pieces; a window
-- whose end is before its start crosses midnight.
local function pieces(f)
  local s, e = minutes(f.startTime), minutes(f.endTime)
  if s < e then
    return { { s, e } }
  end
  return { { s, 1440 }, { 0, e } }
end

--- Do two schedules share a day and overlap in time of day?
function M.overlaps(a, b)
  local shared = false
  for _, d in ipairs(a.days) do
    for _, x in ipairs(b.days) do
      if d == x then
        shared = true
      end
    end
  end
  if not shared then
    return false
  end
  for _, p in ipairs(pieces(a)) do
    for _, q in ipairs(pieces(b)) do
      if p[1] < q[2] and q[1] < p[2] then
        return true
      end
    end
  end
  return false
end

local function conflict(acct, f, except)
  if not f.isEnabled then
    return nil
  end
  for _, s in ipairs(acct.schedules) do
    if s ~= except and s.isEnabled and s.scheduleType == f.scheduleType and M.overlaps(s, f) then
      return s
    end
  end
  return nil
end

-- The 409 of an overlap: `{"error":{"status":..,"message":..}}` as real
-- accounts answer (shape "captured"), else the older flat shape.
local function conflict_answer(st, f, other)
  local code = "CONFLICTING_SCHEDULE_" .. f.scheduleType
  local message = string.format("The %s schedule %s-%s overlaps the existing schedule %s (%s-%s)",
    f.scheduleType, f.startTime, f.endTime, other.scheduleId, other.startTime, other.endTime)
  if st.config.shape == "captured" then
    return http.json(409, { error = { status = code, message = message } })
  end
  return http.json(409, { code = code, message = message, status = 409 })
end

local function find(acct, id)
  for i, s in ipairs(acct.schedules) do
    if s.scheduleId == id then
      return s, i
    end
  end
  return nil
end

local function not_found(st, req, id)
  req.note = "unknown schedule " .. id
  return http.json(404, {
    timestamp = st:iso_time(), status = 404, error = "Not Found",
    code = "SCHEDULE_NOT_FOUND", message = "No schedule " .. id, path = req.path,
  })
end

function M.list(sim, req, site)
  local acct, err = battery.authorise(sim, req, site)
  if not acct then
    return err
  end
  return http.json(200, sim.state:schedules_view(acct))
end

local decode = battery.decode_object

function M.create(sim, req, site)
  local st = sim.state
  local acct, body = battery.authorised_body(sim, req, site)
  if not acct then
    return body
  end
  local f, msg = M.validate(body, nil, acct.timezone, st.config.shape == "captured" and 0 or 6)
  if not f then
    return battery.bad_request(st, req, msg)
  end
  local other = conflict(acct, f)
  if other then
    req.note = "conflict with " .. other.scheduleId
    return conflict_answer(st, f, other)
  end
  local now_ms = st:stamp_ms()
  st.schedule_seq = st.schedule_seq + 1
  f.scheduleId = jwt.uuid()
  f.createdAt, f.updatedAt = now_ms, now_ms
  f.seq = st.schedule_seq
  f.pending_until = st:now() + st.config.pending_seconds
  acct.schedules[#acct.schedules + 1] = f
  return http.json(200, { message = "success", scheduleId = f.scheduleId })
end

function M.update(sim, req, site, id)
  local st = sim.state
  local acct, err = battery.authorise(sim, req, site)
  if not acct then
    return err
  end
  local s = find(acct, id)
  if not s then
    return not_found(st, req, id)
  end
  local body = decode(req.body)
  if not body then
    return battery.bad_request(st, req, "malformed JSON body")
  end
  local f, msg = M.validate(body, s, acct.timezone, st.config.shape == "captured" and 0 or 6)
  if not f then
    return battery.bad_request(st, req, msg)
  end
  local other = conflict(acct, f, s)
  if other then
    req.note = "conflict with " .. other.scheduleId
    return conflict_answer(st, f, other)
  end
  for _, k in ipairs(FIELDS) do
    s[k] = f[k]
  end
  st.schedule_seq = st.schedule_seq + 1
  s.seq = st.schedule_seq
  s.updatedAt = st:stamp_ms()
  s.pending_until = st:now() + st.config.pending_seconds
  return http.json(200, { message = "success", scheduleId = s.scheduleId,
    data = st:schedule_detail(s) })
end

function M.delete(sim, req, site, id)
  local st = sim.state
  local acct, err = battery.authorise(sim, req, site)
  if not acct then
    return err
  end
  local s, i = find(acct, id)
  if not s then
    return not_found(st, req, id)
  end
  table.remove(acct.schedules, i)
  return http.json(200, { message = "success" })
end

function M.delete_verb(sim, req)
  req.note = "DELETE verb refused"
  return battery.spring(sim.state, req, 403, "Invalid CORS request")
end

function M.routes(router)
  local base = battery.BC:gsub("%p", "%%%0") .. "/battery/sites/([^/]+)/schedules"
  router:add("GET", base, M.list)
  router:add("POST", base, M.create)
  router:add("PUT", base .. "/([^/]+)", M.update)
  router:add("POST", base .. "/([^/]+)/delete", M.delete)
  router:add("DELETE", base .. "/([^/]+)", M.delete_verb)
end

return M
