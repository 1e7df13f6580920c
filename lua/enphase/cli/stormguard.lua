--- `enphase stormguard [on|off|alerts|optout ID]`.
local command = require("enphase.cli.command")
local output = require("enphase.cli.output")
local stormguard = require("enphase.battery.stormguard")

local M = {}

local USAGE = "Usage: enphase stormguard [on|off [--ev on|off] | alerts | optout ID] "
  .. "[--dry-run] [--json]\n\n"
  .. "Without a word: Storm Guard's state (on/off, EV charging) and the storm alerts.\n"
  .. "on|off turns Storm Guard on or off; --ev on|off also sets its charging of the\n"
  .. "electric vehicle (kept as it is when not given). alerts lists the storm alerts.\n"
  .. "optout ID opts out of one alert (Storm Guard then ignores it).\n"
  .. "--dry-run (on, off, optout) prints the requests, built by the same code as the\n"
  .. "run's, and sends nothing."

local function when(t)
  return t and os.date("!%Y-%m-%d %H:%M:%SZ", math.floor(t)) or "-"
end

local function print_alerts(ctx, list)
  local rows = {}
  for i, a in ipairs(list) do
    rows[i] = { id = a.id, name = a.name, status = a.status, critical = a.critical,
                start = when(a.start_time), ["end"] = when(a.end_time) }
  end
  if #rows == 0 then
    ctx.out("no storm alerts")
  else
    ctx.out(output.table(rows, { { "id", "id" }, { "name", "name" }, { "status", "status" },
      { "critical", "critical" }, { "start", "starts (UTC)" }, { "end", "ends (UTC)" } }))
  end
end

-- The JSON view: alerts without `raw`.
local function plain(t)
  local out = {}
  for k, v in pairs(t) do
    out[k] = v
  end
  local alerts = {}
  for i, a in ipairs(t.alerts or {}) do
    alerts[i] = { id = a.id, name = a.name, source = a.source, status = a.status,
                  critical = a.critical, start_time = a.start_time, end_time = a.end_time }
  end
  out.alerts = require("enphase.util.json").array(alerts)
  return out
end

local function show(ctx, alerts_only)
  return command.with_client(ctx, function(client)
    local t, err, kind = client:storm_guard()
    if not t then
      return nil, err, kind
    end
    if ctx.options.json then
      local view = plain(t)
      ctx.out(output.json(alerts_only and { alerts = view.alerts } or view))
      return true
    end
    if not alerts_only then
      ctx.out(output.fields({ enabled = t.enabled, ev = t.ev, active = t.active },
        { { "enabled", "storm guard" }, { "ev", "EV charging" }, { "active", "alert active" } }))
    end
    print_alerts(ctx, t.alerts)
    return true
  end)
end

local function set(ctx, on)
  local ev = ctx.options.ev
  if ev ~= nil and ev ~= "on" and ev ~= "off" then
    return nil, ("--ev must be on or off (got %q)"):format(ev), "input"
  end
  ev = ev and ev == "on"
  return command.with_client(ctx, function(client)
    local ok, err, kind = client:set_storm_guard(on, { ev = ev })
    if not ok then
      return nil, err, kind
    end
    ctx.out(ctx.options.json and output.json({ storm_guard = on })
      or ("storm guard " .. (on and "on" or "off")))
    return true
  end)
end

local function opt_out(ctx, id)
  local checked, err = stormguard.check_alert_id(id)
  if not checked then
    return nil, err, "input"
  end
  return command.with_client(ctx, function(client)
    local ok, oerr, kind = client:opt_out_storm_alert(checked)
    if not ok then
      return nil, oerr, kind
    end
    ctx.out(ctx.options.json and output.json({ opted_out = checked })
      or ("storm alert " .. checked .. " opted out"))
    return true
  end)
end

M.stormguard = {
  summary = "show Storm Guard and its alerts, turn it on or off, opt out of an alert",
  usage = USAGE,
  max_words = 2,
  options = { ["dry-run"] = "flag", ev = "value" },
  run = function(ctx)
    local word, arg = ctx.words[1], ctx.words[2]
    if ctx.options.ev ~= nil and word ~= "on" and word ~= "off" then
      return nil, "--ev goes with on or off", "input"
    end
    if ctx.options["dry-run"] and word ~= "on" and word ~= "off" and word ~= "optout" then
      return nil, "--dry-run goes with on, off or optout (a read sends nothing to change)", "input"
    end
    if word == nil then
      return show(ctx, false)
    elseif word == "alerts" and arg == nil then
      return show(ctx, true)
    elseif (word == "on" or word == "off") and arg == nil then
      return set(ctx, word == "on")
    elseif word == "optout" and arg ~= nil then
      return opt_out(ctx, arg)
    end
    return command.usage_error(USAGE)
  end,
}

return M
