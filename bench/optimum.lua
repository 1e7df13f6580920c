-- Benchmark 9: the optimum (enphase.optimum, doc/optimum.md) on the bundled
-- house, in-process: cutting the run into steps, the DP over SoC (grid
-- chosen from the length), the exact lower bound and the rows of the plan.
-- Target: a week in under 1 s. Also 30 and 366 days, and the week on finer
-- grids (the error bound U - L as the grid shrinks).
--
-- Run: lua5.4 bench/optimum.lua  (prints a markdown table).
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local B = require("common")
local optimum = require("enphase.lab.optimum")
local series = require("enphase.sim.series")
local tz = require("enphase.util.tz")

local M = {}

M.TARGET = 1

local SERIES = { load = assert(series.bundled("load")), solar = assert(series.bundled("solar")),
                 tariff = assert(series.bundled("tariff")) }
local BATTERY = { capacity_kwh = 10, max_charge_kw = 7.68, max_discharge_kw = 7.68,
                  efficiency = 0.9, initial_soc = 50 }

local function once(days, grid)
  local start = tz.to_epoch("Europe/London", 2026, 4, 6, 0, 0, 0)
  local finish = tz.to_epoch("Europe/London", 2026, 4, 6 + days, 0, 0, 0)
  local t0 = B.now()
  local r = assert(optimum.run({ series = SERIES, timezone = "Europe/London", start = start,
                                 finish = finish, battery = BATTERY, grid = grid }))
  return B.now() - t0, r
end

function M.run()
  local repeats = math.min(B.REPEATS, tonumber(os.getenv("BENCH_OPTIMUM_REPEATS") or "") or 5)
  local rows = {}
  for _, case in ipairs({ { 7 }, { 30 }, { 366, 1 }, { 7, 0, 2000 }, { 7, 0, 4000 } }) do
    local days, n, grid = case[1], case[2] or repeats, case[3]
    n = n > 0 and n or 1
    B.progress("optimum: %d days, grid %s (%d runs)", days, tostring(grid or "auto"), n)
    local walls, r = {}, nil
    for i = 1, n do
      walls[i], r = once(days, grid)
    end
    local wall = B.median(walls)
    rows[#rows + 1] = {
      days, r.steps, r.states - 1 > 0 and ("%d (%.1f Wh)"):format(r.states, r.grid_kwh * 1000) or "-",
      ("%.3f"):format(wall), ("%.4f"):format(r.cost), ("%.4f"):format(r.lower_bound),
      ("%.4f"):format(r.cost - r.lower_bound),
      days == 7 and (wall < M.TARGET and "yes" or "no") or "",
    }
  end
  B.print_table(("9. The optimum of the bundled house (median of %d runs; 366 days: 1 run)"):format(
    repeats),
    { "days", "steps", "grid states (step)", "wall s", "optimum U", "lower bound L", "U - L",
      "week < 1 s" },
    rows, {
      "In-process wall time of lab/optimum.lua's run(): the steps, the C DP and bound, the rows.",
      "Grid: automatic (1000 intervals per capacity for a week, fewer for longer runs) or given.",
    })
end

if B.is_main("optimum") then
  M.run()
end

return M
