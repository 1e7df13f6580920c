--- Schedules of charge from grid (CFG), discharge to grid (DTG) and
-- restrict battery discharge (RBD): list, add, update, delete.
--
-- Schedules are always addressed by id, never by their position in the
-- server's list, which reorders after writes. Writes are verified by polling
-- the list until nothing is pending.
local api = require("enphase.transport.api")
local retry = require("enphase.transport.retry")
local validate = require("enphase.battery.validate")
local settings = require("enphase.battery.settings")
local errors = require("enphase.errors")
local json = require("enphase.util.json")
local owned = require("enphase.account.owned")

local M = {}

-- A dry run's stand-in for an id it would take from the list.
local DRY_ID = {}

local dry_update

local function send(client, op, args)
  return retry.run(client, function()
    return api.send(client, op, args)
  end)
end

-- One detail of the list, in snake_case, keeping every field it had.
local function parse_detail(d)
  local s = {}
  for k, v in pairs(d) do
    s[k] = v
  end
  s.id = d.scheduleId
  s.type = d.scheduleType
  s.start_time = d.startTime
  s.end_time = d.endTime
  s.limit = d.limit
  s.days = type(d.days) == "table" and d.days or {}
  s.timezone = d.timezone
  s.enabled = d.isEnabled ~= false
  s.status = d.scheduleStatus
  return s
end

-- A JSON array (an empty Lua table counts as one).
local function is_array(t)
  return type(t) == "table" and (next(t) == nil or t[1] ~= nil)
end

-- The list, strictly: a wrong-shaped answer is "protocol", never read as an
-- empty or partial list (deletes and overlap checks act on it).
local function parse_list(body, label)
  local function wrong(why)
    return nil, ("%s: the schedule list %s"):format(label, why), "protocol"
  end
  if body[1] ~= nil or (body.cfg == nil and body.dtg == nil and body.rbd == nil) then
    return wrong("has none of cfg, dtg, rbd")
  end
  local out = { cfg = {}, dtg = {}, rbd = {}, pending = body.anySchedulePending == true,
                status = {} }
  for mode in pairs(validate.MODES) do
    local group = body[mode]
    if group ~= nil and group ~= json.null then
      if type(group) ~= "table" then
        return wrong(("has a %s that is not an object"):format(mode))
      end
      -- each family's own word ("active", "pending", "not_supported"):
      -- pending is the union of these and anySchedulePending
      local status = group.scheduleStatus
      if type(status) == "string" and #status <= 64 then
        out.status[mode] = status
        out.pending = out.pending or status == "pending"
      end
      local details = group.details
      if details ~= nil and details ~= json.null then
        if not is_array(details) then
          return wrong(("has %s.details that is not an array"):format(mode))
        end
        for _, d in ipairs(details) do
          if type(d) ~= "table" or type(d.scheduleId) ~= "string" then
            return wrong(("has a %s detail without a string scheduleId"):format(mode))
          end
          if d.isDeleted ~= true then
            out[mode][#out[mode] + 1] = parse_detail(d)
            out.pending = out.pending or d.scheduleStatus == "pending"
          end
        end
      end
    end
  end
  return out
end

-- The list; for a dry-run client an empty one marked `dry`.
local function fetch(client)
  local res, err, kind = send(client, "schedules_get")
  if not res then
    return nil, err, kind
  end
  if res.dry then
    return { cfg = {}, dtg = {}, rbd = {}, pending = false, dry = true }
  end
  local body
  body, err, kind = api.expect_json(res, "schedule list")
  if not body then
    return nil, err, kind
  end
  return parse_list(body, res.label)
end

--- `{cfg={...}, dtg={...}, rbd={...}, pending=, status={cfg=, dtg=, rbd=}}`:
-- `pending` is true when `anySchedulePending` is, or any family's or
-- schedule's `scheduleStatus` is "pending"; `status` holds each family's
-- `scheduleStatus` as sent ("active", "pending", "not_supported"...). Each
-- schedule is `{id, type, start_time, end_time, limit, days, timezone,
-- enabled, status}` plus every field the server sent.
function M.schedules(client)
  local listed_at = client.ctx.clock()
  local list, err, kind = fetch(client)
  if list and not list.dry then
    owned.prune(client, list, listed_at)
  end
  return list, err, kind
end

local function find(list, id)
  for mode in pairs(validate.MODES) do
    for _, s in ipairs(list[mode]) do
      if s.id == id then
        return s
      end
    end
  end
  return nil
end

-- Polls the list until nothing is pending; "applied", or a "pending" failure.
local function settle(client, id)
  local cfg = client.ctx.config
  for check = 0, cfg.pending_checks do
    if check > 0 then
      api.wait(client, cfg.pending_interval, "the pending write's next check")
    end
    local list, err, kind = fetch(client)
    if not list then
      return nil, err, kind
    end
    if not list.pending then
      return "applied"
    end
  end
  return errors.fail("pending", "schedule %s is still pending after %d checks", id,
    cfg.pending_checks)
end

local function overlapping(list, s, except_id)
  for _, other in ipairs(list[s.type:lower()]) do
    if other.id ~= except_id and other.enabled and validate.overlaps(s, other) then
      return other
    end
  end
  return nil
end

-- The arguments of the schedule_add and schedule_update operations.
local function schedule_args(s, id)
  return { id = id, type = s.type, start_time = s.start_time, end_time = s.end_time,
           limit = s.limit, days = s.days, timezone = s.timezone }
end

-- What a dry run shows for the site's time zone when it is not known:
-- the run would read it from data.json after the login.
local SITE_TIMEZONE = "<the site's time zone>"

-- The site's time zone: given, or learnt once from data.json. Nil when the
-- site does not say; `nil, message, kind` when it could not be asked (a
-- failed login, the server down): that failure is the one to report. A
-- dry-run client learns nothing: it sends nothing.
local function site_timezone(client)
  if client.ctx.dry then
    return client.ctx.site:timezone()
  end
  return require("enphase.account.auth").timezone(client)
end

-- Checks every field before anything is sent; only then, when no time zone
-- was given, asks the site for its own. A failure is `nil, message, kind`.
local function checked_schedule(client, spec)
  local s, err = validate.schedule(spec, { timezone = "UTC" })
  if not s then
    return nil, err, "input"
  end
  if spec.timezone == nil then
    local tz, terr, tkind = site_timezone(client)
    if terr then
      return nil, terr, tkind
    end
    if tz == nil and client.ctx.dry then
      s.timezone = SITE_TIMEZONE
      return s
    end
    s, err = validate.schedule(spec, { timezone = tz })
    if not s then
      return nil, err, "input"
    end
  end
  return s
end

local function write_failure(res, err, kind, failed)
  if failed and failed.status == 409 then
    local code = api.server_error(failed)
    local said = api.server_message(failed) or "conflicting schedule"
    return nil, ("%s: HTTP 409 (%s)"):format(failed.label, said), "conflict", code
  end
  return res, err, kind
end

local function check_free(client, s, except_id)
  -- the control object's scheduleSupported, when a batterySettings read showed it
  local controls = client.ctx.site:controls()
  local control = controls and controls[s.type:lower()]
  if control and control.schedule_supported == false then
    return errors.fail("unsupported", "%s schedules are not supported by this site (%sControl"
      .. ".scheduleSupported is false); nothing was sent", s.type, s.type:lower())
  end
  local list, err, kind = fetch(client)
  if not list then
    return nil, err, kind
  end
  local mode = s.type:lower()
  if list.status and list.status[mode] == "not_supported" then
    return errors.fail("unsupported", "%s schedules are not supported by this site (the schedule "
      .. "list says %s.scheduleStatus \"not_supported\")", s.type, mode)
  end
  local other = overlapping(list, s, except_id)
  if other then
    return errors.fail("input", "the %s window %s-%s overlaps schedule %s (%s-%s); delete or "
      .. "update that one first", s.type, s.start_time, s.end_time, tostring(other.id),
      tostring(other.start_time), tostring(other.end_time))
  end
  return list
end

-- The schedule of `list` equal to `s` whose id was not in `before`.
local function created_since(list, before, s)
  local known = {}
  for _, b in ipairs(before[s.type:lower()]) do
    known[b.id] = true
  end
  for _, c in ipairs(list[s.type:lower()]) do
    if not known[c.id] and c.start_time == s.start_time and c.end_time == s.end_time
        and c.limit == s.limit and table.concat(c.days, ",") == table.concat(s.days, ",") then
      return c
    end
  end
  return nil
end

-- POSTs a new schedule. A network fault may have cut the answer after the
-- server created it: before sending again, look whether it exists now.
local function create(client, s, before)
  local ambiguous = false
  return retry.run(client, function()
    if ambiguous then
      local list = fetch(client)
      local found = list and created_since(list, before, s)
      if found then
        client.ctx.log("info", "the schedule was created before the connection failed")
        return { status = 200, data = { scheduleId = found.id }, label = "POST schedules" }
      end
    end
    local res, err, kind = api.send(client, "schedule_add", schedule_args(s))
    ambiguous = ambiguous or kind == "network"
    return res, err, kind
  end)
end

-- add_schedule; `on_added(id)` (optional) records the new schedule
-- instead of a plain ownership record (a timed action's own record);
-- `before_add(client)` (optional), once the schedule is checked and before
-- anything is written, clears the way (timed.lua: our ended timed windows)
-- and returns a number, or `nil, message, kind` to stop; `before_send(list)`
-- (optional) sees the list checked for overlaps just before the POST
-- (timed.lua records which windows were there before its add).
local function add(client, spec, on_added, before_add, before_send)
  local s, err, kind = checked_schedule(client, spec)
  if not s then
    return nil, err, kind
  end
  if before_add then
    local removed, rerr, rkind = before_add(client)
    if not removed then
      return nil, rerr, rkind
    end
  end
  local ok, ferr, fkind = check_free(client, s)
  if not ok then
    return nil, ferr, fkind
  end
  if before_send and not ok.dry then
    before_send(ok)
  end
  local res, werr, wkind, failed = create(client, s, ok)
  if not res then
    return write_failure(res, werr, wkind, failed)
  end
  local body = type(res.data) == "table" and res.data or {}
  local id = body.scheduleId or (type(body.data) == "table" and body.data.scheduleId)
  if res.dry then
    id = "<new schedule id>"
  end
  if type(id) ~= "string" then
    return nil, res.label .. ": the answer carries no scheduleId", "protocol"
  end
  client.ctx.log("info", "added %s schedule %s", s.type, id)
  if on_added and not res.dry then
    on_added(id)
  elseif not res.dry then -- a dry run records nothing
    owned.add(client, id, { mode = s.type:lower(), start_time = s.start_time,
                            end_time = s.end_time, days = s.days, created = client.ctx.clock() })
  end
  local state, serr, skind = settle(client, id)
  if not state then
    return nil, serr, skind, id
  end
  return id, state
end

-- For timed.lua, not a client method (a table, not a function): the
-- client's add_schedule is timed.add_schedule, which clears our ended timed
-- windows first (so this module needs nothing of timed.lua: no circle).
M.internal = { add = add }

-- The fields of an update, each checked on its own (before anything is
-- sent); the whole schedule is checked once merged with the current one.
local FIELD_CHECKS = {
  start_time = function(v) return validate.time("start_time", v) end,
  end_time = function(v) return validate.time("end_time", v) end,
  days = function(v) return validate.days("days", v) end,
  -- the range (6-100) is checked once merged: the schedule's own limit,
  -- given back unchanged, is accepted whatever it is
  limit = function(v) return validate.integer("limit", v, 0, 100) end,
  timezone = function(v)
    return type(v) == "string" and v or validate.timezone("timezone", v)
  end,
}

local function checked_fields(fields)
  if type(fields) ~= "table" then
    return nil, "fields must be a table {start_time=, end_time=, days=, limit=, timezone=}"
  end
  if fields.type ~= nil then
    return nil, "type cannot be changed by an update: delete the schedule and add another"
  end
  local out = {}
  for k, v in pairs(fields) do
    if not FIELD_CHECKS[k] then
      return nil, ("unknown schedule field %q (allowed: start_time, end_time, days, limit, "
        .. "timezone)"):format(tostring(k))
    end
    local value, err = FIELD_CHECKS[k](v)
    if value == nil then
      return nil, err
    end
    out[k] = value
  end
  return out
end

-- A dry run of an update: the schedule is not known, so the fields not
-- given show as the current values.
dry_update = function(client, sid, fields)
  -- the schedule is not known: what is given must be in our own ranges
  local ok, why = true, nil
  if fields.limit ~= nil then
    ok, why = validate.integer("limit", fields.limit, 6, 100)
  end
  if ok and fields.timezone ~= nil then
    ok, why = validate.timezone("timezone", fields.timezone)
  end
  if not ok then
    return nil, why, "input"
  end
  local args = { id = sid }
  for k, v in pairs(fields) do
    args[k] = v
  end
  local res, err, kind = send(client, "schedule_update", args)
  if not res then
    return nil, err, kind
  end
  return settle(client, sid)
end

--- Changes the times, days and limit of schedule `id` in one PUT; fields
-- not given keep their current values. Returns "applied" or a failure.
function M.update_schedule(client, id, fields)
  local sid, err = validate.schedule_id("id", id)
  if not sid then
    return nil, err, "input"
  end
  local given
  given, err = checked_fields(fields)
  if not given then
    return nil, err, "input"
  end
  local list, lerr, lkind = fetch(client)
  if not list then
    return nil, lerr, lkind
  end
  if list.dry then
    return dry_update(client, sid, given)
  end
  local current = find(list, sid)
  if not current then
    return errors.fail("input", "no schedule with id %s", sid)
  end
  local merged = { type = current.type }
  for _, k in ipairs({ "start_time", "end_time", "days", "limit", "timezone" }) do
    if given[k] ~= nil then
      merged[k] = given[k]
    else
      merged[k] = current[k]
    end
  end
  local s
  s, err = validate.schedule(merged, nil, current)
  if not s then
    return nil, err, "input"
  end
  local other = overlapping(list, s, sid)
  if other then
    return errors.fail("input", "the new window %s-%s overlaps schedule %s", s.start_time,
      s.end_time, tostring(other.id))
  end
  local res, werr, wkind, failed = send(client, "schedule_update", schedule_args(s, sid))
  if not res then
    return write_failure(res, werr, wkind, failed)
  end
  return settle(client, sid)
end

-- Deletes one schedule by id, checked (DRY_ID: a dry run's listed one).
local function delete_one(client, sid)
  -- After a network fault the delete may have happened: a 404 then means done.
  local ambiguous = false
  local res, derr, dkind = retry.run(client, function()
    local r, e, k = api.send(client, "schedule_delete", { id = sid ~= DRY_ID and sid or nil })
    if r and r.status == 404 and ambiguous then
      client.ctx.log("info", "schedule %s was deleted before the connection failed", sid)
      r.data = { message = "success" }
      r.status = 200
    end
    ambiguous = ambiguous or k == "network"
    return r, e, k
  end)
  if not res then
    return nil, derr, dkind
  end
  if res.dry then
    return true
  end
  if type(res.data) ~= "table" or res.data.message ~= "success" then
    return nil, res.label .. ': the answer is not {"message":"success"}', "protocol"
  end
  client.ctx.log("info", "deleted schedule %s", sid)
  owned.forget(client, { sid })
  return true
end

--- Deletes one schedule by id (POST .../<id>/delete with `{}`).
function M.delete_schedule(client, id)
  local sid, err = validate.schedule_id("id", id)
  if not sid then
    return nil, err, "input"
  end
  return delete_one(client, sid)
end

--- Deletes every schedule of `mode` ("cfg", "dtg", "rbd" or "all"), the seed's
-- 2 s apart; with `opts.only_own`, only those this library created
-- (owned.lua), so that the user's own windows stay. Returns the number
-- deleted and the list of failures `{id=, message=, kind=}`; one failure
-- does not stop the others.
function M.delete_schedules(client, mode, opts)
  local which, err = validate.mode("mode", mode, true)
  if not which then
    return nil, err, "input"
  end
  if opts ~= nil and (type(opts) ~= "table" or (opts.only_own ~= nil
      and type(opts.only_own) ~= "boolean")) then
    return nil, "opts must be a table such as {only_own=true}", "input"
  end
  local mine = opts and opts.only_own and owned.records(client)
  local list, lerr, lkind = fetch(client)
  if not list then
    return nil, lerr, lkind
  end
  local ids = {}
  for _, name in ipairs({ "cfg", "dtg", "rbd" }) do
    if which == "all" or which == name then
      for _, s in ipairs(list[name]) do
        if not mine or mine[s.id] then
          ids[#ids + 1] = s.id
        end
      end
    end
  end
  if list.dry then
    -- The list is not known: show the deletes of two listed schedules.
    ids = { DRY_ID, DRY_ID }
  end
  local deleted, failures = 0, {}
  for i, id in ipairs(ids) do
    if i > 1 then
      api.wait(client, client.ctx.config.delete_spacing, "the seed's spacing between two deletes")
    end
    local ok, derr, dkind = delete_one(client, id)
    if ok then
      deleted = deleted + 1
    else
      failures[#failures + 1] = { id = id, message = derr, kind = dkind }
    end
  end
  return deleted, failures
end

--- Turns cfg, dtg or rbd off the seed's way (October 2025): toggle first,
-- then, 2-3 s later, delete that mode's schedules when
-- `opts.delete_schedules` is true. Returns true, the number deleted and
-- the failures.
function M.disable(client, mode, opts)
  local which, err = validate.mode("mode", mode)
  if not which then
    return nil, err, "input"
  end
  if opts ~= nil and type(opts) ~= "table" then
    return nil, "opts must be a table such as {delete_schedules=true}", "input"
  end
  local ok, terr, tkind = settings.toggle(client, which, false)
  if not ok then
    return nil, terr, tkind
  end
  if not (opts and opts.delete_schedules) then
    return true, 0, {}
  end
  api.wait(client, client.ctx.config.toggle_delete_delay,
    "the seed's October 2025 rule: toggle first, then delete 2-3 s later")
  local deleted, failures, dkind = M.delete_schedules(client, which,
    { only_own = opts.only_own == true })
  if not deleted then
    return nil, failures, dkind
  end
  return true, deleted, failures
end

return M
