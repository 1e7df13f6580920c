--- `enphase simulate`: a schedule policy against the simulated house.
local output = require("enphase.cli.output")
local sys = require("enphase.lab.sys")

local M = {}

local USAGE = [[Usage: enphase simulate --policy FILE [--baseline FILE|none] [--days N]
                        [--load CSV] [--solar CSV] [--tariff CSV] [--timezone TZ]
                        [--capacity KWH] [--power KW] [--efficiency ROUND_TRIP]
                        [--reserve PCT] [--very-low PCT] [--initial-soc PCT]
                        [--currency LABEL] [--forecast-error PCT]
                        [--out DIR] [--no-chart] [--no-optimum] [--json]

Runs a policy (a Lua file returning {name=, run=function(client, ctx)}; see the
README, "Trying a policy") against a simulated house on a virtual clock: the
policy's client talks to a local simulator through the same API as to the real
cloud, and is called at the times it asks for. The baseline (default: the
bundled do_nothing) runs on the same house for comparison, and so does the
optimum: the cheapest any policy could do with perfect foresight through the
battery's API modes, ending with at least the SoC it started with (a dynamic
program in C; doc/optimum.md). No account, e-mail or password is needed.

  --policy FILE     the policy, or a bundled one: do_nothing, fixed_window
                    (the seed's 02:00-05:00 CFG window), price_driven
  --baseline FILE   the policy to compare with (default do_nothing; none: no baseline)
  --days N          local calendar days to simulate, from the local midnight of
                    the first row of the load series (1-366, default 7); a day
                    the clocks change has 92 or 100 rows
  --load CSV        household load, time,watts (default: the bundled week)
  --solar CSV       PV production, time,watts (default: the bundled week)
  --tariff CSV      prices per kWh, time,import,export (default: the bundled
                    time-of-use tariff)
  --timezone TZ     the site's time zone (default Europe/London); CSV times are
                    local times of this zone
The battery and the house:
  --capacity KWH    usable capacity (default 10; 0: no battery; at most 1000)
  --power KW        charge and discharge power, AC (default 7.68; 0.1-1000)
  --efficiency ROUND_TRIP
                    round-trip efficiency, 0.5-1 (default 0.90)
  --reserve PCT     the profile's reserve, 0-100 (default 20)
  --very-low PCT    the very-low SoC, 5-25 (default 5)
  --initial-soc PCT state of charge at the start, 0-100 (default 50)
  --currency LABEL  the currency the tariff is in, a label for the report and
                    the charts (default GBP)
  --forecast-error PCT
                    ctx.forecast's error: each value off by up to PCT % (0-100,
                    default 0: perfect), drawn with a fixed seed
Output:
  --out DIR         where the files go (default simulate-out): made if missing
                    (mode 0700), else a folder you own; files are created anew,
                    never written through a symbolic link
  --no-chart        do not run gnuplot
  --no-optimum      do not compute the optimum
  --json            print the report as JSON
  -h, --help        show this help

Writes DIR/policy.csv, DIR/baseline.csv and DIR/optimum.csv (one row per 15
minutes), DIR/report.txt, and DIR/chart.png and DIR/chart.svg (gnuplot; Debian package
gnuplot-nox). Exit codes: 0 ok, 1 the policy or the simulator failed (or a
result came out truncated), 2 usage or input.]]

M.DEFAULTS = {
  days = 7, timezone = "Europe/London", capacity = 10, power = 7.68, efficiency = 0.90,
  reserve = 20, ["very-low"] = 5, ["initial-soc"] = 50, currency = "GBP",
  ["forecast-error"] = 0, out = "simulate-out",
}

-- The options that are numbers: {lo, hi, integer?}.
local NUMBERS = {
  days = { 1, 366, true }, capacity = { 0, 1000 }, power = { 0.1, 1000 },
  efficiency = { 0.5, 1 }, reserve = { 0, 100, true }, ["very-low"] = { 5, 25, true },
  ["initial-soc"] = { 0, 100, true }, ["forecast-error"] = { 0, 100 },
}

-- The value of number option `name`, its default when absent; nil and a
-- message when it is not a plain decimal in range.
local function number_option(options, name)
  local v = options[name]
  if v == nil then
    return M.DEFAULTS[name]
  end
  local range = NUMBERS[name]
  local lo, hi, integer = range[1], range[2], range[3]
  local n = tostring(v):match("^%d+$") and tonumber(v)
    or not integer and tostring(v):match("^%d*%.%d+$") and tonumber(v)
  if not n or n < lo or n > hi then
    return nil, ("--%s must be %s from %s to %s (got %q)"):format(name,
      integer and "an integer" or "a number", tostring(lo), tostring(hi), tostring(v))
  end
  return n
end

-- The series named by the options (CSV text and parsed), bundled when absent.
local function inputs(options)
  local series = require("enphase.sim.series")
  local house, parsed, files = {}, {}, {}
  for _, kind in ipairs({ "load", "solar", "tariff" }) do
    local path = options[kind] or series.bundled_path(kind)
    files[kind] = path
    if not path then
      return nil, "the bundled " .. kind .. " sample is missing"
    end
    local text, err = sys.read(path)
    if not text then
      return nil, ("--%s: cannot read %s: %s"):format(kind, path, tostring(err))
    end
    local s, perr = series.parse(text, kind, path)
    if not s then
      return nil, perr
    end
    house[kind], parsed[kind] = text, s
  end
  return house, parsed, files
end

-- Every option checked: the numbers, the zone, the series, the policies.
local function settings(o)
  local v = {}
  for name in pairs(NUMBERS) do
    local n, err = number_option(o, name)
    if not n then
      return nil, err
    end
    v[name] = n
  end
  local currency = o.currency or M.DEFAULTS.currency
  if not tostring(currency):match("^[%w%p ]+$") or #currency > 12 then
    return nil, ("--currency must be a label of 1-12 printable characters (got %q)"):format(
      tostring(currency))
  end
  v.currency = currency
  local tz = require("enphase.util.tz")
  v.zone = o.timezone or M.DEFAULTS.timezone
  if not tz.known(v.zone) then
    return nil, ("--timezone: unknown time zone %q"):format(v.zone)
  end
  local house, parsed, files = inputs(o)
  if not house then
    return nil, parsed
  end
  v.files = files
  house.initial_soc = v["initial-soc"]
  house.capacity_kwh = v.capacity
  house.max_charge_kw, house.max_discharge_kw = v.power, v.power
  house.efficiency = v.efficiency
  house.reserve, house.very_low_soc = v.reserve, v["very-low"]
  v.house, v.series = house, parsed
  -- the run: from the local midnight of the load's first row, `days` local days
  local wall = parsed.load.first_time
  local y, mo, d = os.date("!%Y-%m-%d", wall):match("(%d+)-(%d+)-(%d+)")
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  v.start = tz.to_epoch(v.zone, y, mo, d, 0, 0, 0)
  v.finish = tz.to_epoch(v.zone, y, mo, d + v.days, 0, 0, 0)
  local policy_mod = require("enphase.lab.policy")
  local runs = { { label = "policy", spec = o.policy } }
  local baseline = o.baseline or "do_nothing"
  if baseline ~= "none" then
    runs[2] = { label = "baseline", spec = baseline }
  end
  for _, r in ipairs(runs) do
    local p, perr = policy_mod.load(r.spec)
    if not p then
      return nil, ("--%s: %s"):format(r.label, perr)
    end
    r.policy, r.name = p, p.name or r.spec
  end
  v.runs = runs
  v.out = o.out or M.DEFAULTS.out
  return v
end

-- One policy run on `sim`, its rows streamed into DIR/<label>.csv (the
-- simulator makes them, lab/run.lua): the run (lab/result.lua) or nil and
-- a message.
local function one_run(sim, r, v)
  local path = v.out .. "/" .. r.label .. ".csv"
  local csv, cerr = sys.create(path)
  if not csv then
    return nil, cerr
  end
  local logf = sys.create(v.out .. "/" .. r.label .. ".log")
  local outcome, rerr = require("enphase.lab.run").run(sim, r.policy, {
    start = v.start, finish = v.finish, timezone = v.zone, house = v.house,
    tariff = v.series.tariff, load = v.series.load, solar = v.series.solar,
    forecast_error = v["forecast-error"],
    log = function(line)
      if logf then
        logf:write(line, "\n")
      end
    end,
    rows = { label = r.label, zone = v.zone, capacity_kwh = v.capacity },
    csv = function(text)
      local ok, werr = csv:write(text)
      if not ok then
        return nil, ("%s run: %s: %s"):format(r.label, path, tostring(werr))
      end
      return true
    end,
  })
  if logf then
    logf:close()
  end
  csv:close()
  local failed
  if not outcome then
    failed = ("%s run: %s"):format(r.label, rerr)
  elseif #outcome.errors > 0 then
    failed = ("the %s (%s) failed: %s"):format(r.label, r.name, outcome.errors[1])
  elseif not outcome.run then
    failed = outcome.run_error
  end
  if failed then
    -- no CSV that looks whole but is not: the log stays, for the reason
    os.remove(path)
    return nil, failed
  end
  local run = outcome.run
  run.name, run.csv = r.name, path
  return run
end

-- The optimum beside the runs (lab/optimum.lua), streamed into
-- DIR/optimum.csv by a child process that works while the policy runs: a
-- function that waits for it and answers the run (with `cpu_seconds` and
-- `peak_rss_kib` of the child) or nil and a message.
local function optimum_run(v)
  local path = v.out .. "/optimum.csv"
  local child, cerr = require("enphase.lab.child").start("enphase.lab.optimum", "beside_files", {
    { files = v.files, timezone = v.zone, start = v.start, finish = v.finish,
      battery = { capacity_kwh = v.capacity, max_charge_kw = v.power,
                  max_discharge_kw = v.power, efficiency = v.efficiency,
                  initial_soc = v["initial-soc"] } },
    path,
  })
  return function()
    local run, info
    if child then
      run, info = child:result()
    else
      info = cerr
    end
    if not run then
      os.remove(path) -- no CSV that looks whole but is not
      return nil, info
    end
    return run, info
  end
end

-- The option names `simulate` takes (M.simulate.options), for the child.
local OPTION_NAMES = {
  "policy", "baseline", "days", "load", "solar", "tariff", "timezone", "initial-soc", "out",
  "capacity", "power", "efficiency", "reserve", "very-low", "currency", "forecast-error",
}

--- The baseline run in a child process (lab/child.lua), on a simulator of
-- its own, while the policy runs in the command: `options` are the
-- command's, checked again there. The run (with `simulator` = {cpu_seconds,
-- peak_rss_kib} of its simulator) or nil and a message.
function M.baseline_run(options)
  local v, err = settings(options)
  if not v then
    return nil, err
  end
  local sim, serr = require("enphase.lab.simulator").start()
  if not sim then
    return nil, serr
  end
  local run, rerr = one_run(sim, v.runs[2], v)
  local used = { cpu_seconds = sim:cpu_seconds(), peak_rss_kib = sim:peak_rss() }
  sim:stop()
  if not run then
    return nil, rerr
  end
  run.simulator = used
  return run
end

-- Starts the baseline's child: a function that waits for it and answers
-- the run (and the child's cpu_seconds and peak_rss_kib) or nil and a
-- message.
local function baseline_run(options)
  local given = {}
  for _, name in ipairs(OPTION_NAMES) do
    given[name] = options[name]
  end
  local child, err = require("enphase.lab.child").start("enphase.cli.simulate", "baseline_run",
    { given })
  return function()
    if not child then
      return nil, err
    end
    return child:result()
  end
end

M.simulate = {
  summary = "try a schedule policy on a simulated house (report, CSV, charts)",
  usage = USAGE,
  no_account = true,
  options = {
    policy = "value", baseline = "value", days = "value", load = "value", solar = "value",
    tariff = "value", timezone = "value", ["initial-soc"] = "value", out = "value",
    ["no-chart"] = "flag", capacity = "value", power = "value", efficiency = "value",
    reserve = "value", ["very-low"] = "value", currency = "value",
    ["forecast-error"] = "value", ["no-optimum"] = "flag",
  },
  run = function(ctx)
    local o = ctx.options
    if not o.policy or #ctx.words > 0 then
      return nil, "usage: enphase simulate --policy FILE [options] (see --help)", "input"
    end
    local v, verr = settings(o)
    if not v then
      return nil, verr, "input"
    end
    local ok, derr = sys.out_dir(v.out)
    if not ok then
      return nil, "--out: " .. derr, "input"
    end
    local socket = require("socket")
    local began = socket.gettime()
    local optimum = not o["no-optimum"] and optimum_run(v)
    local baseline = v.runs[2] and baseline_run(o)
    local sim, err = require("enphase.lab.simulator").start()
    if not sim then
      for _, wait in ipairs({ optimum or false, baseline or false }) do
        if wait then
          wait()
        end
      end
      for _, name in ipairs({ "optimum.csv", "baseline.csv", "baseline.log" }) do
        os.remove(v.out .. "/" .. name)
      end
      return nil, err, "network"
    end
    -- the policy here, the baseline beside it (on the other core)
    local runs = {}
    local run, failed = one_run(sim, v.runs[1], v)
    runs[1] = run
    local status = sys.read("/proc/self/status")
    local peak = { command = status and tonumber(status:match("VmHWM:%s*(%d+)")),
                   simulator = sim:peak_rss() }
    local cpu = { command = os.clock(), simulator = sim:cpu_seconds() }
    sim:stop()
    if baseline then
      local base, binfo = baseline()
      if not run then
        -- the policy's failure is the reason; no baseline files beside it
        os.remove(v.out .. "/baseline.csv")
        os.remove(v.out .. "/baseline.log")
      elseif not base then
        failed = binfo
      else
        runs[2] = base
        peak.baseline, cpu.baseline = binfo.peak_rss_kib, binfo.cpu_seconds
        peak.baseline_simulator = base.simulator and base.simulator.peak_rss_kib
        cpu.baseline_simulator = base.simulator and base.simulator.cpu_seconds
        base.simulator = nil
      end
    end
    if failed then
      if optimum then
        optimum()
        os.remove(v.out .. "/optimum.csv")
      end
      return nil, failed, "protocol"
    end
    if optimum then
      local best, oinfo = optimum()
      if not best then
        return nil, oinfo, "protocol"
      end
      peak.optimum, cpu.optimum = oinfo.peak_rss_kib, oinfo.cpu_seconds
      runs[#runs + 1] = best
      local base = runs[2] and runs[2].label == "baseline" and runs[2]
      if base then
        -- compared on the cost less the stored energy's change (the runs end
        -- at different SoCs)
        runs[1].captures_pct = require("enphase.lab.optimum").captured(
          runs[1].figures.net_cost, base.figures.net_cost, best.figures.net_cost)
      end
    end
    local elapsed = socket.gettime() - began
    local tz = require("enphase.util.tz")
    local report = require("enphase.lab.report")
    local lt = tz.local_time(v.zone, v.start)
    local info = ("%d day(s) from %04d-%02d-%02d (%s), simulated in %.2f s"):format(v.days,
      lt.year, lt.month, lt.day, v.zone, elapsed)
    local text = report.text(runs, { info = info, currency = v.currency })
    local wrote, werr = sys.write(v.out .. "/report.txt", text .. "\n")
    if not wrote then
      return nil, werr, "input"
    end
    local chart_note
    if not o["no-chart"] then
      local panels = {}
      for _, r in ipairs(runs) do
        panels[#panels + 1] = { title = ("%s: %s"):format(r.label, r.name), label = r.label,
                                csv = r.csv }
      end
      -- gnuplot and its scripts write files it opens itself: made here
      -- first, anew, so that none of them is a link planted in DIR
      for _, name in ipairs({ "chart.png", "chart.svg", "chart.png.gp", "chart.svg.gp",
                              "chart.gnuplot.log" }) do
        local f = sys.create(v.out .. "/" .. name)
        if f then
          f:close()
        end
      end
      local png, svg = require("enphase.lab.chart").draw(panels, v.out .. "/chart", nil,
        { timezone = v.zone, currency = v.currency })
      if png then
        chart_note = ("charts: %s, %s"):format(png, svg)
      else
        ctx.err("enphase simulate: warning: " .. svg)
      end
    end
    if o.json then
      local list = {}
      for _, r in ipairs(runs) do
        list[#list + 1] = { label = r.label, policy = r.name, figures = r.figures, csv = r.csv,
                            rows = r.rows, captures_pct = r.captures_pct }
        if r.optimum then
          list[#list].lower_bound = r.optimum.lower_bound
          list[#list].grid_kwh = r.optimum.grid_kwh
        end
      end
      ctx.out(output.json({ days = v.days, start = v.start, finish = v.finish,
                            timezone = v.zone, currency = v.currency, seconds = elapsed,
                            runs = list, out = v.out, peak_rss_kib = peak,
                            cpu_seconds = cpu }))
    else
      ctx.out(text)
      ctx.out("")
      local labels = {}
      for _, r in ipairs(runs) do
        labels[#labels + 1] = r.label
      end
      ctx.out(("files: %s/{%s}.csv, %s/report.txt"):format(v.out, table.concat(labels, ","),
        v.out))
      if chart_note then
        ctx.out(chart_note)
      end
    end
    return true
  end,
}

return M
