-- Benchmark 6: `enphase simulate` on the bundled week (7 days, a policy and
-- the do_nothing baseline, report, two CSV files, the PNG and SVG charts),
-- a new process each run, as a user runs it. Target: under 5 s of wall time
-- on 2 cores. Then a year (366 days) of a bundled policy against the
-- baseline, and the peak memory of the command and of its simulator for 7
-- and for 366 days, measured in the same run (target: under 5 s; memory
-- flat in the number of days).
--
-- Run: lua5.4 bench/simulate.lua  (prints a markdown table).
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local B = require("common")

local M = {}

M.TARGET = 5

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
  local year_rows = {}
  for _, days in ipairs({ 7, 366 }) do
    B.progress("simulate: fixed_window vs do_nothing, %d days (%d runs)", days, repeats)
    local walls, cpus, inner, command_kib, sim_kib, sim_cpu = {}, {}, {}, {}, {}, {}
    for i = 1, repeats do
      local r = B.run_child(B.cli(("simulate --policy fixed_window --days %d --out %s --json "
        .. "--no-chart"):format(days, B.shell_quote(dir .. "/year"))))
      assert(r.rc == 0, "enphase simulate failed: " .. r.err)
      local report = B.json.decode(r.out)
      walls[i], cpus[i], inner[i] = r.wall, r.cpu, report.seconds
      command_kib[i], sim_kib[i] = report.peak_rss_kib.command, report.peak_rss_kib.simulator
      sim_cpu[i] = report.cpu_seconds.simulator
    end
    year_rows[#year_rows + 1] = {
      tostring(days), ("%.2f"):format(B.median(walls)), ("%.2f"):format(B.median(inner)),
      ("%.0f"):format(B.median(cpus) * 1000), ("%.0f"):format(B.median(sim_cpu) * 1000),
      ("%.1f"):format(B.median(command_kib) / 1024),
      ("%.1f"):format(B.median(sim_kib) / 1024), B.median(walls) < M.TARGET and "yes" or "no",
    }
  end
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
  B.print_table(("6b. enphase simulate, a year against a week (fixed_window vs do_nothing, "
    .. "no chart, median of %d runs)"):format(repeats),
    { "days", "wall s", "of which simulating s", "CLI CPU ms", "simulator CPU ms",
      "command peak RSS MiB",
      "simulator peak RSS MiB", "< 5 s" },
    year_rows, {
      "Peak RSS is VmHWM of the command and of its simulator child, and the simulator's CPU",
      "its /proc stat, read by the command (--json: peak_rss_kib, cpu_seconds);",
      "the house keeps 8 days of 15-minute buckets and the rows are streamed to the CSV files.",
    })
end

if B.is_main("simulate") then
  M.run()
end

return M
