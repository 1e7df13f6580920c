-- Benchmark 6: `enphase simulate` on the bundled week (7 days, a policy and
-- the do_nothing baseline, report, two CSV files, the PNG and SVG charts),
-- a new process each run, as a user runs it. Target: under 5 s of wall time
-- on 2 cores. Then (6b) a week and a year (366 days) of a bundled policy
-- against the baseline, the optimum and the charts included, each run
-- exec'd without a shell, with its CPU and the peak memory of the command,
-- its simulator and the optimum's child for 7 and for 366 days, measured in
-- the same run (target: a year under 5 s). BENCH_SIMULATE_BASE=<revision>
-- adds (6c) a year at that revision and here, interleaved, and the ratios.
--
-- Run: lua5.4 bench/simulate.lua  (prints a markdown table).
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local B = require("common")

local M = {}

M.TARGET = 5

local function mib(kib)
  return kib and ("%.1f"):format(kib / 1024) or "-"
end

local function loadavg()
  return (B.read_file("/proc/loadavg") or "-"):match("^(%S+)")
end

-- One line of table 6b: `policy` over `days`, charts or not, `repeats` runs
-- exec'd one after the other.
local function year_row(dir, policy, days, charts, repeats)
  local argv = { "lua5.4", B.ROOT .. "/bin/enphase", "simulate", "--policy", policy, "--days",
                 tostring(days), "--out", dir .. "/year", "--json" }
  if not charts then
    argv[#argv + 1] = "--no-chart"
  end
  B.progress("simulate: %s vs do_nothing, %d days, %s (%d runs)", policy, days,
    charts and "charts" or "no chart", repeats)
  local load = loadavg()
  local walls, cpus, command, sim, baseline, optimum, tree = {}, {}, {}, {}, {}, {}, {}
  for i = 1, repeats do
    local r = B.exec_cpu(argv)
    assert(r.rc == 0, "enphase simulate failed: " .. r.err)
    local report = B.json.decode(r.out)
    local c, p = report.cpu_seconds, report.peak_rss_kib
    walls[i] = r.wall
    -- the simulators are not children the command waits for: their own CPU
    cpus[i] = r.cpu + (c.simulator or 0) + (c.baseline_simulator or 0)
    command[i], optimum[i], tree[i] = p.command, p.optimum or 0, r.maxrss_kib
    sim[i] = math.max(p.simulator or 0, p.baseline_simulator or 0)
    baseline[i] = p.baseline or 0
  end
  local best = math.min(table.unpack(walls))
  return {
    policy, tostring(days), charts and "yes" or "no", ("%.2f"):format(best),
    ("%.2f"):format(B.median(walls)), ("%.2f"):format(B.median(cpus)), mib(B.median(command)),
    mib(B.median(sim)), mib(B.median(baseline)), mib(B.median(optimum)), mib(B.median(tree)),
    load, B.median(walls) < M.TARGET and "yes" or "no",
  }
end

-- Table 6b: a week and a year of fixed_window (with the charts, as a user
-- runs it, and without), then a year of the other bundled policies once.
local function year_table(dir, repeats)
  local rows = {}
  for _, days in ipairs({ 7, 366 }) do
    for _, charts in ipairs({ true, false }) do
      rows[#rows + 1] = year_row(dir, "fixed_window", days, charts, repeats)
    end
  end
  for _, policy in ipairs({ "price_driven", "night_cycles" }) do
    rows[#rows + 1] = year_row(dir, policy, 366, true, 1)
  end
  return rows
end

-- A revision's Lua files and bin/enphase (`git archive`), run with this
-- checkout's C modules: the directory.
local function checkout_of(rev)
  local dir = B.tmpdir()
  local out, code = B.sh(("git -C %s archive %s bin lua | tar -x -C %s 2>&1"):format(
    B.shell_quote(B.ROOT), B.shell_quote(rev), B.shell_quote(dir)))
  assert(code == 0, "BENCH_SIMULATE_BASE=" .. rev .. ": " .. out)
  B.sh(("ln -s %s %s"):format(B.shell_quote(B.ROOT .. "/build"), B.shell_quote(dir .. "/build")))
  return dir
end

-- Table 6c: a year of fixed_window at revision `rev` and in this checkout,
-- the runs interleaved (base, this, base, this...) so that both meet the
-- same load; the ratio is base / this.
local function compare_table(dir, repeats, rev)
  local base = checkout_of(rev)
  local rows = {}
  for _, charts in ipairs({ true, false }) do
    B.progress("simulate: a year at %s and here, %s (%d runs each, interleaved)", rev,
      charts and "charts" or "no chart", repeats)
    local walls, cpus = { base = {}, this = {} }, { base = {}, this = {} }
    for i = 1, repeats do
      for _, which in ipairs({ "base", "this" }) do
        local root = which == "base" and base or B.ROOT
        local argv = { "lua5.4", root .. "/bin/enphase", "simulate", "--policy", "fixed_window",
                       "--days", "366", "--out", dir .. "/compare", "--json" }
        if not charts then
          argv[#argv + 1] = "--no-chart"
        end
        local r = B.exec_cpu(argv)
        assert(r.rc == 0, "enphase simulate failed: " .. r.err)
        local c = B.json.decode(r.out).cpu_seconds
        walls[which][i] = r.wall
        cpus[which][i] = r.cpu + (c.simulator or 0) + (c.baseline_simulator or 0)
      end
    end
    for _, which in ipairs({ "base", "this" }) do
      rows[#rows + 1] = {
        which == "base" and rev or "this checkout", charts and "yes" or "no",
        ("%.2f"):format(math.min(table.unpack(walls[which]))),
        ("%.2f"):format(B.median(walls[which])), ("%.2f"):format(B.median(cpus[which])),
        which == "this" and B.ratio(B.median(walls.base), B.median(walls.this)) or "",
        which == "this" and B.ratio(B.median(cpus.base), B.median(cpus.this)) or "",
      }
    end
  end
  B.rmdir(base)
  return rows
end

function M.run()
  local repeats = math.min(B.REPEATS, tonumber(os.getenv("BENCH_SIMULATE_REPEATS") or "") or 5)
  local dir = B.tmpdir()
  local rows = {}
  local gnuplot = os.execute("command -v gnuplot >/dev/null 2>&1") == true
  for _, policy in ipairs({ "do_nothing", "fixed_window", "price_driven" }) do
    B.progress("simulate: %s vs do_nothing, 7 days (%d runs)", policy, repeats)
    local walls, cpus, inner = {}, {}, {}
    local report
    for i = 1, repeats do
      local r = B.run_child(B.cli(("simulate --policy %s --days 7 --out %s --json"):format(policy,
        B.shell_quote(dir .. "/" .. policy))))
      assert(r.rc == 0, "enphase simulate failed: " .. r.err)
      report = B.json.decode(r.out)
      walls[i], cpus[i], inner[i] = r.wall, r.cpu, report.seconds
    end
    local wall = B.median(walls)
    local f = report.runs[1].figures
    rows[#rows + 1] = {
      policy, ("%.2f"):format(wall), ("%.2f"):format(B.median(inner)),
      ("%.0f"):format(B.median(cpus) * 1000), f.requests, f.logins,
      ("%.2f"):format(f.cost), ("%.2f"):format(report.runs[2].figures.cost),
      wall < M.TARGET and "yes" or "no",
    }
  end
  local year_rows = year_table(dir, repeats)
  local base_rev = os.getenv("BENCH_SIMULATE_BASE")
  local compare_rows = base_rev and base_rev ~= "" and compare_table(dir, repeats, base_rev)
  B.rmdir(dir)
  B.print_table(("6. enphase simulate, bundled week (median of %d runs, charts %s)"):format(repeats,
    gnuplot and "drawn" or "skipped: no gnuplot"),
    { "policy (vs do_nothing)", "wall s", "of which simulating s", "CLI CPU ms", "policy requests",
      "policy logins", "policy cost", "baseline cost", "< 5 s" },
    rows, {
      "Wall time of the whole command (simulator start, both runs, CSV, report, charts);",
      "\"simulating\" is the command's own figure for starting the simulator and the two runs;",
      "CLI CPU is the command's process (the simulator child's CPU is not in it).",
    })
  B.print_table(("6b. enphase simulate, a year against a week, exec'd without a shell "
    .. "(best and median of %d runs; other policies 1 run)"):format(repeats),
    { "policy", "days", "charts", "wall best s", "wall median s", "CPU s", "command MiB",
      "simulator MiB", "baseline MiB", "optimum MiB", "tree max MiB", "load before", "< 5 s" },
    year_rows, {
      "Each run is `lua5.4 bin/enphase simulate --policy P --days N --out DIR --json` started with",
      "fork and exec (bench/exec_cpu.c); wall is around its fork and exit. CPU: wait4's rusage of",
      "the command and the children it waited for (the baseline's and the optimum's child",
      "processes, gnuplot), plus the two simulators' own (they are no children the command waits",
      "for: --json's cpu_seconds). Peak RSS: VmHWM of the command, the larger of the two",
      "simulators, the baseline's and the optimum's child (--json's peak_rss_kib); tree max:",
      "wait4's ru_maxrss (the largest of the command and its waited children).",
      "Load: the 1-minute load average before the runs (2 cores shared with other work).",
    })
  if compare_rows then
    B.print_table(("6c. a year of fixed_window before and after, exec'd, interleaved (best and "
      .. "median of %d runs each)"):format(repeats),
      { "code", "charts", "wall best s", "wall median s", "CPU s", "wall less", "CPU less" },
      compare_rows, {
        "BENCH_SIMULATE_BASE=<revision>: that revision's Lua files and bin/enphase (git archive,",
        "with this checkout's C modules) and this checkout, one run of each in turn, so both",
        "meet the same load; CPU as in 6b; \"less\": the base's median over this checkout's.",
      })
  end
end

if B.is_main("simulate") then
  M.run()
end

return M
