-- lab/chart.lua: the gnuplot figure of a run reads the CSV files by column
-- name; dates, the year and the zone on the x axis, ticks by days on a long
-- run, a price axis that takes negatives in the currency given, one kW scale
-- for every run, the modes, reserve and limit, the cumulative costs.
local chart = require("enphase.lab.chart")
local procs = require("helpers.procs")

-- A run's CSV of `days` days (or `rows` rows) from 2026-03-01 00:00 UTC (a
-- Sunday; or from epoch `t0`), 15 minutes a row; `scale` multiplies the
-- powers; prices dip below zero at noon.
local function csv(path, days, scale, mode, t0, rows)
  local lines = { "time,start,pv_w,load_w,grid_w,battery_w,soc,import_price,export_price,cost,"
    .. "reserve,limit,mode" }
  t0 = t0 or 1772323200
  for i = 0, (rows or days * 96) - 1 do
    local t = t0 + i * 900
    local noon = i % 96 >= 44 and i % 96 < 56
    lines[#lines + 1] = ("x,%d,%d,%d,%d,%d,50,%s,%s,0.01,20,90,%s"):format(t, 1000 * scale,
      500 * scale, -500 * scale, 100 * scale, noon and "-0.05" or "0.2", noon and "-0.08" or "0.1",
      noon and mode or "self-consumption")
  end
  procs.spit(path, table.concat(lines, "\n") .. "\n")
end

describe("the charts (lab/chart.lua)", function()
  local dir

  before_each(function()
    dir = procs.tmpdir("chart")
  end)

  after_each(function()
    procs.rmdir(dir)
  end)

  -- gnuplot that only copies its script and data, so they are what is checked.
  -- The PNG's and the SVG's run side by side and both copy every data file:
  -- `cat >` (the same bytes to the same offsets), as `cp` of two processes
  -- can fail with "File exists" when both create the copy at once.
  local function draw_panels(panels)
    local fake = dir .. "/gnuplot"
    procs.spit(fake, "#!/bin/sh\ncat \"$1\" > \"$1.kept\"\n"
      .. "for f in \"$(dirname \"$1\")\"/*.dat; do cat \"$f\" > \"$f.kept\"; done\n")
    os.execute("chmod +x " .. fake)
    local png, svg = chart.draw(panels, dir .. "/chart", fake, { timezone = "Europe/London",
                                                                  currency = "GBP" })
    assert.equal(dir .. "/chart.png", png, svg)
    return procs.slurp(dir .. "/chart.png.gp.kept")
  end

  -- The x axis's ticks in the script: {{label=, at=}} (minor ones left out).
  local function tics(gp)
    local list = assert(gp:match("set xtics %((.-)%)\n"), gp)
    local out = {}
    for label, at in list:gmatch('"([^"]*)" (%d+)') do
      if label ~= "" then
        out[#out + 1] = { label = label, at = tonumber(at) }
      end
    end
    return out
  end

  local function draw(days)
    csv(dir .. "/policy.csv", days, 1, "cfg")
    csv(dir .. "/optimum.csv", days, 4, "dtg")
    local panels = { { title = "policy: p", label = "policy", csv = dir .. "/policy.csv" },
                     { title = "optimum: o", label = "optimum", csv = dir .. "/optimum.csv" } }
    return draw_panels(panels)
  end

  it("a week: dates with weekdays, the zone and the year, negative prices, one kW scale", function()
    local gp = draw(7)
    -- a tick at every local midnight, labelled with its local date
    local t = tics(gp)
    assert.equal(8, #t)
    assert.same({ label = "Sun 01 Mar", at = 1772323200 }, t[1])
    assert.same({ label = "Sun 08 Mar", at = 1772323200 + 7 * 86400 }, t[8])
    assert.truthy(gp:find("Europe/London", 1, true))
    assert.truthy(gp:find("local time, Europe/London, 2026", 1, true))
    assert.truthy(gp:find("'GBP per kWh'", 1, true))
    local lo = tonumber(gp:match("set ylabel 'GBP per kWh'\nset yrange %[([-%d.]+):"))
    assert.truthy(lo and lo < -0.08, gp)
    -- both runs' panels on the scale of the larger one (4 kW PV)
    local scales = {}
    for range in gp:gmatch('set ylabel "kW"\nset yrange %[([^%]]+)%]') do
      scales[#scales + 1] = range
    end
    assert.equal(2, #scales)
    assert.equal(scales[1], scales[2])
    assert.truthy(tonumber(scales[1]:match(":(.*)$")) > 4)
    for _, what in ipairs({ "'CFG'", "'DTG'", "'RBD'", "'battery kW (+out)'", "'reserve %'",
                            "'window limit %'", "cumulative energy cost", "'policy'",
                            "'optimum'" }) do
      assert.truthy(gp:find(what, 1, true), what)
    end
    -- the data files are gone, the script too
    assert.is_nil(procs.slurp(dir .. "/chart.1.dat"))
    assert.is_nil(procs.slurp(dir .. "/chart.png.gp"))
  end)

  it("30 days: ticks every few days, day and month, not weekday and hour", function()
    local gp = draw(30)
    local t = tics(gp)
    assert.equal(11, #t)
    assert.same({ label = "01 Mar", at = 1772323200 }, t[1])
    assert.same({ label = "04 Mar", at = 1772323200 + 3 * 86400 }, t[2])
    -- across the spring change (29 March): 28 Mar 00:00 GMT, 31 Mar 00:00 BST
    assert.same({ label = "28 Mar", at = 1772323200 + 27 * 86400 }, t[10])
    assert.same({ label = "31 Mar", at = 1772323200 + 30 * 86400 - 3600 }, t[11])
    for _, tick in ipairs(t) do
      assert.falsy(tick.label:find("%d%d:%d%d"), tick.label)
    end
  end)

  -- The x values of a panel's data, and the ticks, for `rows` rows from `t0`.
  local function day_of(t0, rows)
    csv(dir .. "/policy.csv", nil, 1, "cfg", t0, rows)
    local gp = draw_panels({ { title = "policy: p", label = "policy", csv = dir .. "/policy.csv" } })
    local xs = {}
    for line in assert(io.open(dir .. "/chart.1.dat.kept")):lines() do
      xs[#xs + 1] = tonumber(line:match("^(%S+)"))
    end
    return xs, tics(gp)
  end

  -- The x values `xs` of a day `hours` long: `rows` of them, each after the
  -- one before, the last row starting 15 minutes before the day ends.
  local function assert_rising_day(xs, rows, hours)
    assert.equal(rows, #xs)
    for i = 2, #xs do
      assert.truthy(xs[i] > xs[i - 1], "x goes back at row " .. i)
    end
    assert.equal(hours * 3600 - 900, xs[rows] - xs[1])
  end

  it("draws the day the clocks go back as 25 hours, the repeated hour beside the first", function()
    -- Europe/London, Sunday 25 October 2026: 100 rows from 00:00 BST (24 Oct 23:00 UTC)
    local t0 = 1792882800
    local xs, t = day_of(t0, 100)
    assert_rising_day(xs, 100, 25)
    -- ticks at local 00:00, 06:00, 12:00, 18:00 and the next 00:00: 7 hours
    -- from midnight to 06:00 (01:00-02:00 happens twice), then 6
    assert.same({ "Sun 25 Oct\\n00:00", "Sun 25 Oct\\n06:00", "Sun 25 Oct\\n12:00",
                  "Sun 25 Oct\\n18:00", "Mon 26 Oct\\n00:00" },
      { t[1].label, t[2].label, t[3].label, t[4].label, t[5].label })
    assert.same({ t0, t0 + 7 * 3600, t0 + 13 * 3600, t0 + 19 * 3600, t0 + 25 * 3600 },
      { t[1].at, t[2].at, t[3].at, t[4].at, t[5].at })
  end)

  it("draws the day the clocks go forward as 23 hours", function()
    -- Europe/London, Sunday 29 March 2026: 92 rows from 00:00 GMT
    local t0 = 1774742400
    local xs, t = day_of(t0, 92)
    assert_rising_day(xs, 92, 23)
    assert.equal("Sun 29 Mar\\n06:00", t[2].label)
    assert.equal(t0 + 5 * 3600, t[2].at)
    assert.equal("Mon 30 Mar\\n00:00", t[5].label)
    assert.equal(t0 + 23 * 3600, t[5].at)
  end)

  it("a long run: points of several rows (means, the mode of most rows), the shading as wide", function()
    assert.equal(1, chart.rows_per_point(chart.MAX_POINTS))
    assert.equal(2, chart.rows_per_point(chart.MAX_POINTS + 1))
    assert.equal(1, chart.rows_per_point(8 * 96))
    assert.equal(24, chart.rows_per_point(366 * 96 / 2))
    assert.equal(48, chart.rows_per_point(366 * 96))
    -- 30 days of 15 minutes: 2880 rows, an hour a point
    local gp = draw(30)
    assert.truthy(gp:find("($1+3600)", 1, true), gp)
    local points, cfg = {}, 0
    for line in assert(io.open(dir .. "/chart.1.dat.kept")):lines() do
      local f = {}
      for w in line:gmatch("%S+") do
        f[#f + 1] = w
      end
      points[#points + 1] = f
      cfg = cfg + tonumber(f[9])
    end
    assert.equal(30 * 24, #points)
    -- the first hour: the means of its four rows, the cost summed to its end
    assert.same({ "1772323200", "1.000", "0.500", "-0.500", "0.100", "50.00", "0.20000", "0.10000",
                  "0", "0", "0", "20.0", "90.0", "0.04000" }, points[1])
    assert.equal(3600, tonumber(points[2][1]) - tonumber(points[1][1]))
    -- the three noon hours of each day are CFG
    assert.equal(30 * 3, cfg)
    assert.equal("28.80000", points[#points][14])
  end)

  if chart.available() then
    it("gnuplot draws the PNG and the SVG", function()
      csv(dir .. "/policy.csv", 2, 1, "cfg")
      local png, svg = chart.draw({ { title = "policy", label = "policy", csv = dir .. "/policy.csv" } },
        dir .. "/chart", nil, { timezone = "UTC" })
      assert.equal("\137PNG", procs.slurp(png):sub(1, 4))
      assert.truthy(procs.slurp(svg):find("<svg", 1, true))
    end)
  end

  it("says which CSV it cannot read", function()
    local png, why = chart.draw({ { title = "x", csv = dir .. "/none.csv" } }, dir .. "/chart",
      "sh", {})
    assert.is_nil(png)
    assert.truthy(why:find("none.csv", 1, true), why)
  end)
end)
