-- lab/chart.lua: the gnuplot figure of a run reads the CSV files by column
-- name; dates, the year and the zone on the x axis, ticks by days on a long
-- run, a price axis that takes negatives in the currency given, one kW scale
-- for every run, the modes, reserve and limit, the cumulative costs.
local chart = require("enphase.lab.chart")
local procs = require("helpers.procs")

-- A run's CSV of `days` days from 2026-03-01 00:00 UTC (a Sunday), 15 minutes
-- a row; `scale` multiplies the powers; prices dip below zero at noon.
local function csv(path, days, scale, mode)
  local lines = { "time,start,pv_w,load_w,grid_w,battery_w,soc,import_price,export_price,cost,"
    .. "reserve,limit,mode" }
  local t0 = 1772323200
  for i = 0, days * 96 - 1 do
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

  local function draw(days)
    csv(dir .. "/policy.csv", days, 1, "cfg")
    csv(dir .. "/optimum.csv", days, 4, "dtg")
    local panels = { { title = "policy: p", label = "policy", csv = dir .. "/policy.csv" },
                     { title = "optimum: o", label = "optimum", csv = dir .. "/optimum.csv" } }
    -- gnuplot that only copies its script, so the script is what is checked
    local fake = dir .. "/gnuplot"
    procs.spit(fake, "#!/bin/sh\ncp \"$1\" \"$1.kept\"\n")
    os.execute("chmod +x " .. fake)
    local png, svg = chart.draw(panels, dir .. "/chart", fake, { timezone = "Europe/London",
                                                                  currency = "GBP" })
    assert.equal(dir .. "/chart.png", png, svg)
    return procs.slurp(dir .. "/chart.png.gp.kept")
  end

  it("a week: dates with weekdays, the zone and the year, negative prices, one kW scale", function()
    local gp = draw(7)
    assert.truthy(gp:find("set format x '%a %d %b'", 1, true), gp)
    assert.truthy(gp:find("set xtics 86400", 1, true))
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
    assert.truthy(gp:find("set format x '%d %b'", 1, true), gp)
    assert.truthy(gp:find("set xtics 259200", 1, true), gp)
    assert.falsy(gp:find("%H:%M", 1, true))
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
