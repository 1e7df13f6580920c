--- `enphase simulate`: a schedule policy against the simulated house.
local output = require("enphase.cli.output")
local sys = require("enphase.lab.sys")

local M = {}

local USAGE = [[Usage: enphase simulate --policy FILE [--baseline FILE|none] [--days N]
                        [--load CSV] [--solar CSV] [--tariff CSV] [--timezone TZ]
                        [--initial-soc N] [--out DIR] [--no-chart] [--json]

Runs a policy (a Lua file returning {name=, run=function(client, ctx)}; see the
README, "Trying a policy") against a simulated house on a virtual clock: the
policy's client talks to a local simulator through the same API as to the real
cloud, and is called at the times it asks for. The baseline (default: the
bundled do_nothing) runs on the same house for comparison.

  --policy FILE     the policy, or a bundled one: do_nothing, fixed_window
                    (the seed's 02:00-05:00 CFG window), price_driven
  --baseline FILE   the policy to compare with (default do_nothing; none: no baseline)
  --days N          days to simulate (1-366, default 7)
  --load CSV        household load, time,watts (default: the bundled week)
  --solar CSV       PV production, time,watts (default: the bundled week)
  --tariff CSV      prices per kWh, time,import,export (default: the bundled
                    time-of-use tariff)
  --timezone TZ     the site's time zone (default Europe/London); CSV times are
                    local times of this zone; the run starts at the first row
                    of the load series
  --initial-soc N   state of charge at the start, percent (default 50)
  --out DIR         where the CSV files, report and charts go (default simulate-out)
  --no-chart        do not run gnuplot

Writes DIR/policy.csv and DIR/baseline.csv (one row per 15 minutes),
DIR/report.txt, and DIR/chart.png and DIR/chart.svg (gnuplot; Debian package
gnuplot-nox). Exit codes: 0 ok, 1 the policy or the simulator failed, 2 usage.]]

-- The series named by the options (CSV text and parsed), bundled when absent.
local function inputs(options)
  local series = require("enphase.sim.series")
  local house, parsed = {}, {}
  for _, kind in ipairs({ "load", "solar", "tariff" }) do
    local path = options[kind] or series.bundled_path(kind)
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
  return house, parsed
end

local function integer_option(options, name, lo, hi, default)
  local v = options[name]
  if v == nil then
    return default
  end
  local n = math.tointeger(tonumber(v))
  if not n or n < lo or n > hi then
    return nil, ("--%s must be an integer from %d to %d (got %q)"):format(name, lo, hi, v)
  end
  return n
end

M.simulate = {
  summary = "try a schedule policy on a simulated house (report, CSV, charts)",
  usage = USAGE,
  options = {
    policy = "value", baseline = "value", days = "value", load = "value", solar = "value",
    tariff = "value", timezone = "value", ["initial-soc"] = "value", out = "value",
    ["no-chart"] = "flag",
  },
  run = function(ctx)
    local o = ctx.options
    if not o.policy or #ctx.words > 0 then
      return nil, "usage: enphase simulate --policy FILE [options] (see --help)", "input"
    end
    local days, derr = integer_option(o, "days", 1, 366, 7)
    if not days then
      return nil, derr, "input"
    end
    local soc, serr = integer_option(o, "initial-soc", 0, 100, 50)
    if not soc then
      return nil, serr, "input"
    end
    local tz = require("enphase.util.tz")
    local zone = o.timezone or "Europe/London"
    if not tz.known(zone) then
      return nil, ("--timezone: unknown time zone %q"):format(zone), "input"
    end
    local house, parsed = inputs(o)
    if not house then
      return nil, parsed, "input"
    end
    house.initial_soc = soc
    local policy_mod = require("enphase.lab.policy")
    local runs = { { label = "policy", spec = o.policy } }
    local baseline = o.baseline or "do_nothing"
    if baseline ~= "none" then
      runs[2] = { label = "baseline", spec = baseline }
    end
    for _, r in ipairs(runs) do
      local p, perr = policy_mod.load(r.spec)
      if not p then
        return nil, ("--%s: %s"):format(r.label, perr), "input"
      end
      r.policy, r.name = p, p.name or r.spec
    end
    local out = o.out or "simulate-out"
    if not os.execute("mkdir -p " .. sys.quote(out)) then
      return nil, "--out: cannot create " .. out, "input"
    end
    local wall = parsed.load.first_time
    local y, mo, d = os.date("!%Y-%m-%d", wall):match("(%d+)-(%d+)-(%d+)")
    local start = tz.to_epoch(zone, tonumber(y), tonumber(mo), tonumber(d),
      tonumber(os.date("!%H", wall)), tonumber(os.date("!%M", wall)), 0)
    local socket = require("socket")
    local began = socket.gettime()
    local sim, err = require("enphase.lab.simulator").start()
    if not sim then
      return nil, err, "network"
    end
    local run_mod = require("enphase.lab.run")
    local report = require("enphase.lab.report")
    local failed
    for _, r in ipairs(runs) do
      local logf = io.open(out .. "/" .. r.label .. ".log", "w")
      local result, rerr = run_mod.run(sim, r.policy, {
        start = start, days = days, timezone = zone, house = house, tariff = parsed.tariff,
        log = function(line)
          if logf then
            logf:write(line, "\n")
          end
        end,
      })
      if logf then
        logf:close()
      end
      if not result then
        failed = ("%s run: %s"):format(r.label, rerr)
        break
      end
      r.result = result
      r.figures = report.figures(result)
      if #result.errors > 0 then
        failed = ("the %s (%s) failed: %s"):format(r.label, r.name, result.errors[1])
      end
      local ok, werr = sys.write(out .. "/" .. r.label .. ".csv", report.csv(result, zone))
      if not ok then
        failed = werr
      end
      if failed then
        break
      end
    end
    sim:stop()
    local elapsed = socket.gettime() - began
    if failed then
      return nil, failed, "protocol"
    end
    local info = ("%d day(s) from %s (%s), simulated in %.2f s"):format(days,
      os.date("!%Y-%m-%d %H:%M", start + (tz.offset(zone, start) or 0)), zone, elapsed)
    local text = report.text(runs, info)
    sys.write(out .. "/report.txt", text .. "\n")
    local chart_note
    if not o["no-chart"] then
      local panels = {}
      for _, r in ipairs(runs) do
        panels[#panels + 1] = { title = ("%s: %s"):format(r.label, r.name),
                                csv = out .. "/" .. r.label .. ".csv" }
      end
      local png, svg = require("enphase.lab.chart").draw(panels, out .. "/chart")
      if png then
        chart_note = ("charts: %s, %s"):format(png, svg)
      else
        ctx.err("enphase simulate: warning: " .. svg)
      end
    end
    if o.json then
      local list = {}
      for _, r in ipairs(runs) do
        list[#list + 1] = { label = r.label, policy = r.name, figures = r.figures }
      end
      ctx.out(output.json({ days = days, start = start, timezone = zone, seconds = elapsed,
                            runs = list, out = out }))
    else
      ctx.out(text)
      ctx.out("")
      ctx.out(("files: %s/{%s}.csv, %s/report.txt"):format(out,
        #runs == 2 and "policy,baseline" or "policy", out))
      if chart_note then
        ctx.out(chart_note)
      end
    end
    return true
  end,
}

return M
