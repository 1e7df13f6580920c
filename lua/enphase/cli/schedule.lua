--- `enphase schedule list|add|update|delete|clear`.
--
-- With --dry-run the same library calls run on a dry-run client
-- (cli/init.lua), which sends nothing and records the plans.
local compat = require("enphase.util.compat")
local output = require("enphase.cli.output")
local validate = require("enphase.battery.validate")
local json = require("enphase.util.json")

local USAGE = [[
Usage:
  enphase schedule list [--type cfg|dtg|rbd] [--json | --ids]
  enphase schedule add --type CFG|DTG|RBD --start HH:MM --end HH:MM --days 1,2,3
                       [--limit N] [--tz Area/City] [--dry-run]
  enphase schedule update ID [--start HH:MM] [--end HH:MM] [--days 1,2] [--limit N]
                       [--tz Area/City] [--dry-run]
  enphase schedule delete ID [--dry-run]
  enphase schedule clear cfg|dtg|rbd|all [--own] [--dry-run]

Days: 1 = Monday ... 7 = Sunday. Limit: 6-100 (default 100 for CFG, 6 for DTG).
The time zone defaults to ENPHASE_TIMEZONE, else the site's own.
list --ids prints only the ids by type, the shape of the seed's Home Assistant
schedule sensor: {"cfg":[ids],"dtg":[ids],"rbd":[ids],"other":[]}.
clear deletes the schedules one by one, 2 s apart (the seed's spacing); with
--own only those lua-enphase created (recorded beside the token cache), so the
windows made in the Enphase app stay.]]

local COLUMNS = {
  { "type", "TYPE" }, { "id", "ID" }, { "start_time", "START" }, { "end_time", "END" },
  { "days", "DAYS" }, { "limit", "LIMIT" }, { "timezone", "TIMEZONE" }, { "status", "STATUS" },
}

local function usage_error()
  return nil, "usage: see 'enphase schedule --help'", "input"
end

-- "1,2,3", "1 2 3" or "1, 2,3" -> {1,2,3}; a part that is not a number is
-- kept as is so that validate names it.
local function parse_days(text)
  if text == nil then
    return nil
  end
  local days = {}
  for part in text:gsub("^[%s,]+", ""):gsub("[%s,]+$", ""):gsub("%s*,%s*", ","):gsub("%s+", ",")
      :gmatch("[^,]+") do
    days[#days + 1] = compat.tointeger(tonumber(part)) or part
  end
  if #days == 0 then
    days[1] = text
  end
  return days
end

local function parse_limit(text)
  return text and (tonumber(text) or text)
end

local function fields(options)
  return {
    start_time = options.start,
    end_time = options["end"],
    days = parse_days(options.days),
    limit = parse_limit(options.limit),
    timezone = options.tz,
  }
end

local function client_of(ctx)
  return ctx.client()
end

local function list(ctx)
  local only = ctx.options.type
  if only then
    local k, err = validate.mode("--type", only)
    if not k then
      return nil, err, "input"
    end
    only = k
  end
  local client, err, kind = client_of(ctx)
  if not client then
    return nil, err, kind
  end
  local all
  all, err, kind = client:schedules()
  if not all then
    return nil, err, kind
  end
  if ctx.options.ids then
    ctx.out(output.schedule_ids(all, only))
    return true
  end
  if ctx.options.json then
    -- each family's scheduleStatus ("active", "pending", "not_supported")
    local out = { pending = all.pending, status = all.status or {} }
    for _, k in ipairs({ "cfg", "dtg", "rbd" }) do
      if not only or only == k then
        local items = json.array()
        for _, s in ipairs(all[k]) do
          items[#items + 1] = { id = s.id, type = s.type, start_time = s.start_time,
            end_time = s.end_time, limit = s.limit, days = json.array(s.days),
            timezone = s.timezone, enabled = s.enabled, status = s.status }
        end
        out[k] = items
      end
    end
    ctx.out(output.json(out))
    return true
  end
  local rows = {}
  for _, k in ipairs({ "cfg", "dtg", "rbd" }) do
    if not only or only == k then
      for _, s in ipairs(all[k]) do
        rows[#rows + 1] = s
      end
    end
  end
  ctx.out(#rows > 0 and output.table(rows, COLUMNS) or "no schedules")
  for _, k in ipairs({ "cfg", "dtg", "rbd" }) do
    if (not only or only == k) and all.status and all.status[k] == "not_supported" then
      ctx.out(("(%s schedules: not supported by this site)"):format(k:upper()))
    end
  end
  if all.pending then
    ctx.out("(a change is still pending on the server)")
  end
  return true
end

local function add(ctx)
  local spec = fields(ctx.options)
  spec.type = ctx.options.type
  if spec.type == nil then
    return nil, "type must be one of CFG, DTG, RBD (give --type)", "input"
  end
  local client, err, kind = client_of(ctx)
  if not client then
    return nil, err, kind
  end
  local id, state, extra
  id, state, kind, extra = client:add_schedule(spec)
  if not id then
    if kind == "pending" then
      ctx.out(ctx.options.json and output.json({ id = extra, state = "pending" }) or extra)
    end
    return nil, state, kind
  end
  ctx.out(ctx.options.json and output.json({ id = id, state = state }) or id)
  return true
end

local function update(ctx)
  local id = ctx.words[2]
  if not id then
    return usage_error()
  end
  local changes = fields(ctx.options)
  if next(changes) == nil then
    return nil, "update needs at least one of --start, --end, --days, --limit, --tz", "input"
  end
  local client, err, kind = client_of(ctx)
  if not client then
    return nil, err, kind
  end
  local state
  state, err, kind = client:update_schedule(id, changes)
  if not state then
    return nil, err, kind
  end
  ctx.out(ctx.options.json and output.json({ id = id, state = state }) or state)
  return true
end

local function delete(ctx)
  local id = ctx.words[2]
  if not id or ctx.words[3] then
    return usage_error()
  end
  local client, err, kind = client_of(ctx)
  if not client then
    return nil, err, kind
  end
  local ok
  ok, err, kind = client:delete_schedule(id)
  if not ok then
    return nil, err, kind
  end
  ctx.out(ctx.options.json and output.json({ deleted = id }) or ("deleted " .. id))
  return true
end

local function clear(ctx)
  local which, err = validate.mode("mode", ctx.words[2], true)
  if not which then
    return nil, err, "input"
  end
  local client, kind
  client, err, kind = client_of(ctx)
  if not client then
    return nil, err, kind
  end
  local deleted, failures, dkind = client:delete_schedules(which,
    { only_own = ctx.options.own == true })
  if not deleted then
    return nil, failures, dkind
  end
  if ctx.options.json then
    ctx.out(output.json({ deleted = deleted, failures = json.array(failures) }))
  else
    ctx.out(("%d schedule(s) deleted"):format(deleted))
    for _, f in ipairs(failures) do
      ctx.err(("could not delete %s: %s"):format(f.id, f.message))
    end
  end
  if #failures > 0 then
    return nil, ("%d delete(s) failed"):format(#failures), failures[1].kind
  end
  return true
end

local ACTIONS = { list = list, add = add, update = update, delete = delete, clear = clear }

return {
  schedule = {
    summary = "list, add, update, delete or clear CFG/DTG/RBD schedules",
    usage = USAGE,
    -- the action, and the id or kind of those that take one
    max_words = function(words)
      local action = words[1]
      return (action == "update" or action == "delete" or action == "clear") and 2 or 1
    end,
    options = {
      type = "value", start = "value", ["end"] = "value", days = "value", limit = "value",
      tz = "value", ["dry-run"] = "flag", ids = "flag", own = "flag",
    },
    client_options = function(opts, ctx)
      opts.timezone = ctx.options.tz or opts.timezone
    end,
    run = function(ctx)
      local action = ACTIONS[ctx.words[1] or ""]
      if not action then
        return usage_error()
      end
      return action(ctx)
    end,
  },
}
