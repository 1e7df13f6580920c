--- `enphase settings`, `cfg|dtg|rbd on|off`, `profile`, `reserve`.
local output = require("enphase.cli.output")
local dryrun = require("enphase.cli.dryrun")
local settings = require("enphase.settings")
local BC = require("enphase.api").BC

local M = {}

local function fail_usage(usage)
  return nil, "usage: " .. usage:match("^Usage: ([^\n]*)"), "input"
end

local function with_client(ctx, fn)
  local client, err, kind = ctx.client()
  if not client then
    return nil, err, kind
  end
  return fn(client)
end

M.settings = {
  summary = "show the battery settings (cfg, dtg, rbd, profile, reserve)",
  usage = "Usage: enphase settings [--json]",
  max_words = 0,
  run = function(ctx)
    return with_client(ctx, function(client)
      local s, err, kind = client:settings()
      if not s then
        return nil, err, kind
      end
      if ctx.options.json then
        ctx.out(output.json(s.raw))
      else
        ctx.out(output.fields(s, {
          { "charge_from_grid", "charge from grid" }, { "discharge_to_grid", "discharge to grid" },
          { "restrict_discharge", "restrict discharge" }, { "profile", "profile" },
          { "reserve", "reserve %" }, { "very_low_soc", "very low SoC %" } }))
      end
      return true
    end)
  end,
}

local SETTINGS_URL = BC .. "/batterySettings/{site}"

-- "45m", "2h", "1h30m", "90" (minutes) -> minutes, or nil.
local function duration_minutes(text)
  local h, m = text:match("^(%d+)h(%d*)m?$")
  if h then
    return tonumber(h) * 60 + (tonumber(m) or 0)
  end
  m = text:match("^(%d+)m?$")
  return m and tonumber(m) or nil
end

-- `enphase cfg|dtg on --for DURATION [--limit N]`.
local function timed_action(ctx, kind, on)
  local o = ctx.options
  if not on or not o["for"] then
    return nil, "--for DURATION (and --limit) go with on", "input"
  end
  local minutes = duration_minutes(o["for"])
  if not minutes or minutes < 1 or minutes > 1439 then
    return nil, ("--for must be a duration from 1m to 23h59m such as 45m, 2h or 1h30m (got %q)")
      :format(o["for"]), "input"
  end
  local limit = o.limit and math.tointeger(tonumber(o.limit))
  if o.limit and not limit then
    return nil, ("--limit must be an integer percent (got %q)"):format(o.limit), "input"
  end
  if o["dry-run"] then
    local schedules = BC .. "/battery/sites/{site}/schedules"
    return dryrun.print(ctx, {
      { "GET", schedules },
      { "POST", schedules, nil, { scheduleType = kind:upper(), startTime = "<now>",
        endTime = ("<now + %d min>"):format(minutes), days = { "<today>" },
        limit = limit or (kind == "cfg" and 100 or 6), timezone = "<site>", isEnabled = true } },
      { "GET", schedules },
      { "GET", SETTINGS_URL, "userId={user}&source=enlm" },
      { "POST", BC .. "/battery/sites/{site}/schedules/isValid", nil, settings.TOGGLES[kind].validation },
      { wait = 1, why = "the seed's delay between isValid and PUT (only when the mode was off)" },
      { "PUT", SETTINGS_URL, "userId={user}&source=enho", settings.TOGGLES[kind].payload(true, os.time()) },
    })
  end
  return with_client(ctx, function(client)
    local method = kind == "cfg" and "charge_for" or "discharge_for"
    local id, info, ekind = client[method](client, minutes, { limit = limit })
    if not id then
      return nil, info, ekind
    end
    if o.json then
      ctx.out(output.json({ id = id, start_time = info.start_time, end_time = info.end_time,
        days = info.days, limit = info.limit, timezone = info.timezone, expires = info.expires }))
    else
      ctx.out(("%s on for %d min: window %s-%s (%s), limit %d%%, schedule %s"):format(kind,
        minutes, info.start_time, info.end_time, info.timezone, info.limit, id))
    end
    return true
  end)
end

local function toggle_command(kind, title)
  local spec = settings.TOGGLES[kind]
  local timed = kind ~= "rbd"
  local usage = ("Usage: enphase %s on|off [--delete-schedules] [--dry-run]%s\n\n"
    .. "Turns %s on or off: validate (isValid), wait 1 s, PUT, read back.\n"
    .. "--delete-schedules (with off): then, 2-3 s later, delete the %s schedules\n"
    .. "(the seed's October 2025 rule)."):format(kind,
    timed and "\n       enphase " .. kind .. " on --for DURATION [--limit N]" or "", title, kind:upper())
  if timed then
    usage = usage .. ("\n--for 45m (or 2h, 1h30m, 90): a %s window from now for that long, in\n"
      .. "the site's time zone (across midnight if need be), up to --limit percent\n"
      .. "(default %d), and %s on; the next schedule change after it ends removes it."):format(
      kind:upper(), kind == "cfg" and 100 or 6, kind)
  end
  return {
    summary = ("turn %s on or off"):format(title),
    usage = usage,
    max_words = 1,
    options = { ["dry-run"] = "flag", ["delete-schedules"] = "flag",
                ["for"] = timed and "value" or nil, limit = timed and "value" or nil },
    run = function(ctx)
      local word = ctx.words[1]
      if #ctx.words ~= 1 or (word ~= "on" and word ~= "off") then
        return fail_usage(usage)
      end
      local on = word == "on"
      if ctx.options["for"] or ctx.options.limit then
        return timed_action(ctx, kind, on)
      end
      local delete = ctx.options["delete-schedules"]
      if delete and on then
        return nil, "--delete-schedules goes with off only", "input"
      end
      if ctx.options["dry-run"] then
        local steps = {
          { "POST", BC .. "/battery/sites/{site}/schedules/isValid", nil, spec.validation },
          { wait = 1, why = "the seed's delay between isValid and PUT" },
          { "PUT", SETTINGS_URL, "userId={user}&source=enho", spec.payload(on, os.time()) },
          { "GET", SETTINGS_URL, "userId={user}&source=enlm" },
        }
        if delete then
          steps[#steps + 1] = { wait = 2.5, why = "toggle first, then delete" }
          steps[#steps + 1] = { "GET", BC .. "/battery/sites/{site}/schedules" }
          steps[#steps + 1] = { "POST", BC .. "/battery/sites/{site}/schedules/<id>/delete", nil,
                                {} }
        end
        return dryrun.print(ctx, steps)
      end
      return with_client(ctx, function(client)
        if delete then
          local ok, deleted, failures = client:disable(kind, { delete_schedules = true })
          if not ok then
            return nil, deleted, failures
          end
          ctx.out(("%s off; %d schedule(s) deleted"):format(kind, deleted))
          for _, f in ipairs(failures) do
            ctx.err(("could not delete %s: %s"):format(f.id, f.message))
          end
          return #failures == 0 or nil, #failures > 0 and "some deletes failed" or nil, "http"
        end
        local ok, err, ekind = client:toggle(kind, on)
        if not ok then
          return nil, err, ekind
        end
        ctx.out(ctx.options.json and output.json({ [spec.name] = on }) or (kind .. " " .. word))
        return true
      end)
    end,
  }
end

M.cfg = toggle_command("cfg", "charge from grid")
M.dtg = toggle_command("dtg", "discharge to grid")
M.rbd = toggle_command("rbd", "restrict battery discharge")

local PROFILE_USAGE = "Usage: enphase profile [NAME --reserve N] [--cancel] [--dry-run] [--json]\n\n"
  .. "Without NAME: shows the profile. NAME is one of self-consumption, cost_savings,\n"
  .. "backup_only, ai_optimisation; --reserve is the backup reserve in percent (0-100).\n"
  .. "--cancel cancels a pending profile change."

M.profile = {
  summary = "show or set the battery profile and its reserve",
  usage = PROFILE_USAGE,
  max_words = 1,
  options = { reserve = "value", cancel = "flag", ["dry-run"] = "flag" },
  run = function(ctx)
    local name = ctx.words[1]
    if #ctx.words > 1 or (name and not ctx.options.reserve) then
      return fail_usage(PROFILE_USAGE)
    end
    local reserve = ctx.options.reserve and math.tointeger(tonumber(ctx.options.reserve))
    if ctx.options.reserve and not reserve then
      return nil, ("reserve must be an integer from 0 to 100 (got %q)"):format(ctx.options.reserve),
        "input"
    end
    if ctx.options["dry-run"] and (name or ctx.options.cancel) then
      local path = ctx.options.cancel and (BC .. "/cancel/profile/{site}") or (BC .. "/profile/{site}")
      return dryrun.print(ctx, { { "PUT", path, not ctx.options.cancel and "userId={user}" or nil,
        ctx.options.cancel and {} or { profile = name, batteryBackupPercentage = reserve } } })
    end
    return with_client(ctx, function(client)
      if ctx.options.cancel then
        local ok, what, kind = client:cancel_pending_profile()
        if ok then
          ctx.out(what)
        end
        return ok, what, kind
      end
      if name then
        local ok, state, kind = client:set_profile(name, reserve)
        if ok then
          ctx.out(("profile %s, reserve %d%%: %s"):format(name, reserve, state))
        end
        return ok, state, kind
      end
      local p, err, kind = client:profile()
      if not p then
        return nil, err, kind
      end
      ctx.out(ctx.options.json and output.json(p.raw) or output.fields(p, {
        { "profile", "profile" }, { "reserve", "reserve %" }, { "pending", "change pending" } }))
      return true
    end)
  end,
}

local RESERVE_USAGE = "Usage: enphase reserve N [--dry-run]\n\n"
  .. "Sets the backup reserve to N percent (0-100), keeping the current profile."

M.reserve = {
  summary = "set the backup reserve (percent), keeping the profile",
  usage = RESERVE_USAGE,
  max_words = 1,
  options = { ["dry-run"] = "flag" },
  run = function(ctx)
    local n = #ctx.words == 1 and math.tointeger(tonumber(ctx.words[1]))
    if not n then
      return fail_usage(RESERVE_USAGE)
    end
    if n < 0 or n > 100 then
      return nil, ("reserve must be an integer from 0 to 100 (got %d)"):format(n), "input"
    end
    if ctx.options["dry-run"] then
      return dryrun.print(ctx, {
        { "GET", BC .. "/profile/{site}", "source=enho&userId={user}" },
        { "PUT", BC .. "/profile/{site}", "userId={user}",
          { profile = "<current>", batteryBackupPercentage = n } } })
    end
    return with_client(ctx, function(client)
      local ok, state, kind = client:set_reserve(n)
      if ok then
        ctx.out(("reserve %d%%: %s"):format(n, state))
      end
      return ok, state, kind
    end)
  end,
}

return M
