--- `enphase settings`, `cfg|dtg|rbd on|off`, `profile`, `reserve`.
--
-- With --dry-run these commands run the same library calls on a dry-run
-- client (cli/init.lua), which sends nothing and records the plans.
local compat = require("enphase.util.compat")
local command = require("enphase.cli.command")
local output = require("enphase.cli.output")
local json = require("enphase.util.json")
local settings = require("enphase.battery.settings")

local M = {}

-- Prints `value` as JSON with --json, else `text`.
local function say(ctx, value, text)
  ctx.out(ctx.options.json and output.json(value) or text)
end

M.settings = {
  summary = "show the battery settings (cfg, dtg, rbd, profile, reserve)",
  usage = "Usage: enphase settings [--json]",
  max_words = 0,
  run = function(ctx)
    return command.with_client(ctx, function(client)
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
local function timed_action(ctx, mode, on)
  local o = ctx.options
  if not on or not o["for"] then
    return nil, "--for DURATION (and --limit) go with on", "input"
  end
  local minutes = duration_minutes(o["for"])
  if not minutes or minutes < 1 or minutes > 1439 then
    return nil, ("--for must be a duration from 1m to 23h59m such as 45m, 2h or 1h30m (got %q)")
      :format(o["for"]), "input"
  end
  local limit = o.limit and compat.tointeger(tonumber(o.limit))
  if o.limit and not limit then
    return nil, ("--limit must be an integer percent (got %q)"):format(o.limit), "input"
  end
  return command.with_client(ctx, function(client)
    local method = mode == "cfg" and "charge_for" or "discharge_for"
    local id, info, ekind = client[method](client, minutes, { limit = limit })
    if not id then
      return nil, info, ekind
    end
    if o.json then
      ctx.out(output.json({ id = id, start_time = info.start_time, end_time = info.end_time,
        days = info.days, limit = info.limit, timezone = info.timezone, expires = info.expires }))
    else
      ctx.out(("%s on for %d min: window %s-%s (%s), limit %d%%, schedule %s"):format(mode,
        minutes, info.start_time, info.end_time, info.timezone, info.limit, id))
    end
    return true
  end)
end

local function toggle_command(mode, title)
  local name = settings.TOGGLES[mode].name
  local timed = mode ~= "rbd"
  local usage = ("Usage: enphase %s on|off [--delete-schedules] [--dry-run] [--json]%s\n\n"
    .. "Turns %s on or off: validate (isValid), wait 1 s, PUT, read back.\n"
    .. "--delete-schedules (with off): then, 2-3 s later, delete the %s schedules\n"
    .. "(the seed's October 2025 rule)."):format(mode,
    timed and "\n       enphase " .. mode .. " on --for DURATION [--limit N]" or "", title, mode:upper())
  if timed then
    usage = usage .. ("\n--for 45m (or 2h, 1h30m, 90): a %s window from now for that long, in\n"
      .. "the site's time zone (across midnight if need be), up to --limit percent\n"
      .. "(default %d), and %s on; the next schedule change after it ends removes it."):format(
      mode:upper(), mode == "cfg" and 100 or 6, mode)
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
        return command.usage_error(usage)
      end
      local on = word == "on"
      if ctx.options["for"] or ctx.options.limit then
        return timed_action(ctx, mode, on)
      end
      local delete = ctx.options["delete-schedules"]
      if delete and on then
        return nil, "--delete-schedules goes with off only", "input"
      end
      return command.with_client(ctx, function(client)
        if delete then
          local ok, deleted, failures = client:disable(mode, { delete_schedules = true })
          if not ok then
            return nil, deleted, failures
          end
          local listed = {}
          for i, f in ipairs(failures) do
            listed[i] = { id = f.id, message = f.message, kind = f.kind }
          end
          say(ctx, { [name] = false, deleted = deleted, failures = json.array(listed) },
            ("%s off; %d schedule(s) deleted"):format(mode, deleted))
          if not ctx.options.json then
            for _, f in ipairs(failures) do
              ctx.err(("could not delete %s: %s"):format(f.id, f.message))
            end
          end
          if #failures > 0 then
            return nil, ("%d delete(s) failed"):format(#failures), failures[1].kind
          end
          return true
        end
        local ok, err, ekind = client:toggle(mode, on)
        if not ok then
          return nil, err, ekind
        end
        say(ctx, { [name] = on }, mode .. " " .. word)
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
  .. "A change Enlighten keeps pending is waited for at most 900 s, then reported as\n"
  .. "still pending; while pending, the requested profile and reserve are shown.\n"
  .. "--cancel cancels a pending profile change."

-- "30" -> 30; anything else as given, so that the library names it.
local function number_word(text)
  return text and require("enphase.battery.validate").number_word(text)
end

M.profile = {
  summary = "show or set the battery profile and its reserve",
  usage = PROFILE_USAGE,
  max_words = 1,
  options = { reserve = "value", cancel = "flag", ["dry-run"] = "flag" },
  run = function(ctx)
    local name = ctx.words[1]
    local cancel = ctx.options.cancel
    if #ctx.words > 1 or (name and not ctx.options.reserve) or (ctx.options.reserve and not name)
        or (cancel and name) then
      return command.usage_error(PROFILE_USAGE)
    end
    local reserve = number_word(ctx.options.reserve)
    return command.with_client(ctx, function(client)
      if cancel then
        local ok, what, kind = client:cancel_pending_profile()
        if ok then
          say(ctx, { state = what }, what)
        end
        return ok, what, kind
      end
      if name then
        local ok, state, kind = client:set_profile(name, reserve)
        if ok then
          say(ctx, { profile = name, reserve = reserve, state = state },
            ("profile %s, reserve %d%%: %s"):format(name, reserve, state == "pending"
              and "still pending (Enlighten applies it later; enphase profile --cancel "
                .. "cancels it)" or state))
        end
        return ok, state, kind
      end
      local p, err, kind = client:profile()
      if not p then
        return nil, err, kind
      end
      local rows = { { "profile", "profile" }, { "reserve", "reserve %" },
                     { "pending", "change pending" } }
      local shown = { profile = p.profile, reserve = p.reserve, pending = p.pending }
      if p.requested then -- what the pending change asks for (requestedConfig)
        shown.requested_profile, shown.requested_reserve = p.requested.profile, p.requested.reserve
        rows[#rows + 1] = { "requested_profile", "requested profile" }
        rows[#rows + 1] = { "requested_reserve", "requested reserve %" }
      end
      ctx.out(ctx.options.json and output.json(p.raw) or output.fields(shown, rows))
      return true
    end)
  end,
}

local RESERVE_USAGE = "Usage: enphase reserve N [--dry-run] [--json]\n\n"
  .. "Sets the backup reserve to N percent (0-100), keeping the current profile."

M.reserve = {
  summary = "set the backup reserve (percent), keeping the profile",
  usage = RESERVE_USAGE,
  max_words = 1,
  options = { ["dry-run"] = "flag" },
  run = function(ctx)
    if #ctx.words ~= 1 then
      return command.usage_error(RESERVE_USAGE)
    end
    local n = number_word(ctx.words[1])
    return command.with_client(ctx, function(client)
      local ok, state, kind = client:set_reserve(n)
      if ok then
        say(ctx, { reserve = n, state = state }, ("reserve %d%%: %s"):format(n, state))
      end
      return ok, state, kind
    end)
  end,
}

return M
