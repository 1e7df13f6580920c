-- /__sim/rows (sim/rows_control.lua): enphase simulate's rows made inside
-- the simulator from its house, as CSV text and totals (lab/result.lua's
-- writer), so that a year's rows never cross the socket as numbers. The
-- text and the totals are those the lab would make from the house's
-- buckets itself.
local simulator = require("helpers.sim")
local result = require("enphase.lab.result")
local tz = require("enphase.util.tz")

local ZONE = "Europe/London"
local T0 = tz.to_epoch(ZONE, 2026, 4, 6, 0, 0, 0)
local DAY = 86400

describe("a lab run's rows made in the simulator (/__sim/rows)", function()
  local sim = simulator.for_file(_ENV)

  local function start_run(start, finish)
    sim:control("POST", "/__sim/clock", { at = T0, freeze = true })
    sim:control("POST", "/__sim/house", { start = T0, initial_soc = 50 })
    sim:control("POST", "/__sim/rows", { label = "policy", zone = ZONE, capacity_kwh = 10,
                                        start = start, finish = finish })
    sim:control("POST", "/__sim/clock", { advance = DAY })
  end

  local function rows_until(t)
    local res = assert(sim:request("GET", ("/__sim/rows?until=%d"):format(t)))
    return res.status, res.body
  end

  it("gives the day as CSV in two parts and the run's totals, as the lab's writer makes them", function()
    start_run(T0, T0 + DAY)
    local status, first = rows_until(T0 + DAY / 2)
    assert.equal(200, status)
    local status2, second = rows_until(T0 + DAY)
    assert.equal(200, status2)
    local lines = {}
    for line in (first .. second):gmatch("([^\n]*)\n") do
      lines[#lines + 1] = line
    end
    assert.equal(result.CSV_HEADER, lines[1])
    assert.equal(1 + 96, #lines)
    assert.falsy(second:find("time,", 1, true))
    local closed = sim:control("POST", "/__sim/rows/close", { calls = 2, requests = 5, logins = 1 })
    assert.is_true(closed.ok)
    -- the same writer fed with the house's buckets (exact numbers over JSON)
    local house = sim:control("GET", "/__sim/house")
    local w = result.writer({ label = "policy", zone = ZONE, capacity_kwh = 10, start = T0,
                              finish = T0 + DAY })
    for i, b in ipairs(house.buckets) do
      assert(w:add(b))
      assert.equal(result.csv_line(b, ZONE), lines[i + 1])
    end
    local mine = assert(w:close({ calls = 2, requests = 5, logins = 1 }))
    assert.equal(96, closed.run.rows)
    for _, k in ipairs({ "cost", "import_kwh", "export_kwh", "net_cost", "soc_end", "cycles",
                         "reserve_hours", "mean_import_price" }) do
      assert.equal(mine.figures[k], closed.run.figures[k], k)
    end
    assert.equal(5, closed.run.figures.requests)
  end)

  it("answers 409 with the writer's message at a gap, and a truncated run does not close", function()
    start_run(T0 - 900, T0 + DAY)
    local status, text = rows_until(T0 + 3600)
    assert.equal(409, status)
    assert.truthy(text:find("was due", 1, true), text)

    start_run(T0, T0 + 2 * DAY)
    assert.equal(200, (rows_until(T0 + DAY)))
    local closed = sim:control("POST", "/__sim/rows/close", {})
    assert.is_false(closed.ok)
    assert.truthy(closed.error:find("truncated", 1, true), closed.error)
  end)

  it("wants a run before rows, and a known zone", function()
    local res = assert(sim:request("GET", "/__sim/rows?until=0"))
    assert.equal(400, res.status)
    res = assert(sim:request("POST", "/__sim/rows", { body = '{"label":"x","zone":"Mars/Base"}' }))
    assert.equal(400, res.status)
  end)
end)
