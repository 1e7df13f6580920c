-- Battery state and today's energy: the client's tolerant parsing (against
-- the simulator's house and against hostile answers), and the CLI commands.
local simulator = require("helpers.sim")
local H = require("helpers.client")
local json = require("cjson")

local STATUS = "/pv/settings/" .. H.SITE_ID .. "/battery_status.json"
local TODAY = "/pv/systems/" .. H.SITE_ID .. "/today"

describe("telemetry", function()
  local sim = simulator.for_file(_ENV)
  local client

  before_each(function()
    client = H.new(sim)
  end)

  after_each(function()
    client:close()
  end)

  local function answer(path, body, status)
    sim:fault({ path = path, action = "body", status = status or 200, body = body })
  end

  describe("client:battery()", function()
    it("reads the house's state of charge, energy, power and each battery", function()
      local b = assert(client:battery())
      local house = sim:control("GET", "/__sim/house")
      assert.is_true(b.has_batteries)
      -- to a tenth of a point, from the energies (not the whole percent)
      assert.equal(math.floor(house.soc * 10 + 0.5) / 10, b.soc)
      assert.near(house.energy_kwh, b.available_kwh, 0.01)
      assert.equal(10, b.capacity_kwh)
      assert.equal(7.68, b.max_kw)
      assert.equal(2, #b.batteries)
      -- the site pages' reads carry the XHR header (ENLIGHTEN-API.md)
      local log = sim:log()
      assert.equal("XMLHttpRequest", log[#log].headers["x-requested-with"])
      assert.matches("battery_status.json", log[#log].path, 1, true)
      for _, x in ipairs(b.batteries) do
        assert.equal(5, x.capacity_kwh)
        assert.equal(100, x.health)
        assert.truthy(x.serial:match("^%d+$"))
        assert.truthy(({ charging = true, discharging = true, idle = true })[x.state])
        assert.equal("number", type(x.last_report))
      end
    end)

    it('turns "48%" into 48 and "N/A" into nil, field by field', function()
      answer(STATUS, json.encode({
        current_charge = "48%", available_energy = "N/A", max_capacity = 10,
        available_power = "7.68", max_power = "N/A",
        storages = { { serial_number = "482300001", current_charge = "N/A", battery_soh = "97%",
                       cycle_count = "N/A", led_status = 13, status = "normal",
                       last_report = json.null, available_energy = 2.4, max_capacity = 5 } },
      }))
      local b = assert(client:battery())
      assert.equal(48, b.soc)
      assert.equal(2.4, b.available_kwh) -- "N/A" in total: the batteries' sum
      assert.equal(7.68, b.available_kw)
      assert.is_nil(b.max_kw)
      local x = b.batteries[1]
      assert.is_nil(x.soc)
      assert.equal(97, x.health)
      assert.is_nil(x.cycles)
      assert.is_nil(x.last_report)
      assert.equal("discharging", x.state)
      assert.equal("482300001", x.serial)
    end)

    it("computes the state of charge from the batteries when the total says N/A", function()
      answer(STATUS, json.encode({
        current_charge = "N/A",
        storages = { { available_energy = 1, max_capacity = 5 }, { available_energy = 3, max_capacity = 5 } },
      }))
      local b = assert(client:battery())
      assert.equal(40, b.soc)
      assert.equal(4, b.available_kwh)
      assert.equal(10, b.capacity_kwh)
    end)

    it("says clearly that a site has no batteries (simulated and as Enlighten answers it)", function()
      sim:control("POST", "/__sim/house", { capacity_kwh = 0 })
      local b = assert(client:battery())
      assert.is_false(b.has_batteries)
      assert.is_nil(b.soc)
      assert.same({}, b.batteries)
      answer(STATUS, '{"current_charge":"N/A","storages":[]}')
      b = assert(client:battery())
      assert.is_false(b.has_batteries)
      assert.is_nil(b.soc)
    end)

    it("never raises on hostile answers: values become nil, shapes become protocol", function()
      local values = {
        '{"current_charge":"NaN","available_energy":"Infinity","max_capacity":"-inf",'
          .. '"storages":"x"}',
        '{"current_charge":"250%","available_energy":true,"max_capacity":{},"storages":[1,"a",null]}',
        '{"current_charge":"' .. string.rep("9", 5000) .. '%","storages":[{"serial_number":{}}]}',
      }
      for _, body in ipairs(values) do
        answer(STATUS, body)
        local b, err = client:battery()
        assert.truthy(b, err)
        assert.is_nil(b.soc)
        assert.is_nil(b.capacity_kwh)
      end
      local shapes = { "not json at all {",
        '{"current_charge":NaN,"available_energy":Infinity,"max_capacity":-Infinity}',
        "[1,2,3]", '"a string"', "",
        "<!DOCTYPE html><html><body>Maintenance</body></html>" }
      for _, body in ipairs(shapes) do
        answer(STATUS, body)
        local b, err, kind = client:battery()
        assert.is_nil(b)
        assert.equal("string", type(err))
        assert.truthy(kind == "protocol" or kind == "session" or kind == "http", kind)
      end
    end)
  end)

  describe("client:energy()", function()
    it("gives today's 15-minute intervals from local midnight, the last two still settling", function()
      sim:control("POST", "/__sim/clock", { advance = 3 * 3600 })
      -- the simulator's clock runs on: a quarter hour may begin between the
      -- answer and the look at the clock before or after it
      local before = sim:state().now
      local e = assert(client:energy())
      local after = sim:state().now
      assert.equal(900, e.interval)
      local fewest = math.floor((before - e.start) / 900) + 1
      local most = math.floor((after - e.start) / 900) + 1
      assert.truthy(#e.intervals >= fewest and #e.intervals <= most,
        ("%d intervals, expected %d to %d"):format(#e.intervals, fewest, most))
      for i, iv in ipairs(e.intervals) do
        assert.equal(e.start + (i - 1) * 900, iv.start)
        assert.equal(i <= #e.intervals - 2, iv.settled, "interval " .. i)
        -- Enlighten's own balance (AC side), within the rounding to whole Wh
        local lhs = iv.production + iv.import + iv.discharge
        local rhs = iv.consumption + iv.export + iv.charge
        assert.near(lhs, rhs, 3.01)
        assert.truthy(iv.soc >= 0 and iv.soc <= 100)
      end
      local sum = 0
      for _, iv in ipairs(e.intervals) do
        sum = sum + iv.consumption
      end
      assert.near(sum, e.totals.consumption, #e.intervals)
      assert.equal("number", type(e.soc))
    end)

    it("keeps what it can from a hostile answer and fails only on the shape", function()
      answer(TODAY, json.encode({
        last_report_date = "N/A",
        stats = { { start_time = 1700000000, interval_length = "soon",
                    production = { 1, "N/A", json.null, "12", "x%" },
                    consumption = "nope", soc = { "48%", 101, -1 } } },
      }))
      local e = assert(client:energy())
      assert.equal(900, e.interval)
      assert.equal(5, #e.intervals)
      assert.same({ 1, nil, nil, 12, nil },
        { e.intervals[1].production, e.intervals[2].production, e.intervals[3].production,
          e.intervals[4].production, e.intervals[5].production })
      assert.is_nil(e.intervals[1].consumption)
      assert.equal(48, e.intervals[1].soc)
      assert.is_nil(e.intervals[2].soc)
      assert.is_nil(e.intervals[3].soc)
      -- no totals in the answer: missing, never the sum of a partial array (issue 18)
      assert.is_nil(e.totals.production)
      assert.truthy(table.concat(e.missing_totals, ","):find("production", 1, true))
      -- a huge array is cut, not walked to its end
      local big = {}
      for i = 1, 5000 do
        big[i] = i
      end
      answer(TODAY, json.encode({ stats = { { start_time = 0, production = big } } }))
      e = assert(client:energy())
      assert.truthy(#e.intervals <= 768)
      for _, body in ipairs({ '{"stats":[]}', '{"stats":"x"}', "[]", "garbage", '{"stats":[null]}' }) do
        answer(TODAY, body)
        local ok, err, kind = client:energy()
        assert.is_nil(ok)
        assert.equal("string", type(err))
        assert.equal("protocol", kind)
      end
    end)

    it("refuses a day other than today before sending anything", function()
      local before = #sim:log()
      local ok, err, kind = client:energy("2026-01-01")
      assert.is_nil(ok)
      assert.equal("input", kind)
      assert.truthy(err:find("today", 1, true))
      assert.equal(before, #sim:log())
    end)
  end)

  describe("the CLI", function()
    local function run(...)
      local env = { ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD,
                    ENPHASE_BASE_URL = sim.base_url }
      local argv = { ... }
      argv[#argv + 1] = "--no-token-cache"
      return H.main(argv, env)
    end

    it("enphase battery prints the state and each battery; --json the parsed values", function()
      local code, out = run("battery")
      assert.equal(0, code)
      assert.truthy(out:find("state of charge %:", 1, true))
      assert.equal(2, select(2, out:gsub("\n4823", "")))
      code, out = run("battery", "--json")
      assert.equal(0, code)
      local v = json.decode(out)
      assert.is_true(v.has_batteries)
      assert.equal(2, #v.batteries)
      sim:control("POST", "/__sim/house", { capacity_kwh = 0 })
      code, out = run("battery")
      assert.equal(0, code)
      assert.truthy(out:find("no batteries", 1, true))
    end)

    it("enphase energy prints a table, --csv a row per interval, --json the values", function()
      local code, out = run("energy", "--csv")
      assert.equal(0, code)
      local lines = {}
      for line in out:gmatch("[^\n]+") do
        lines[#lines + 1] = line
      end
      -- the seed's columns in their places, then the flows (issue 18)
      assert.equal("start,production,consumption,import,export,charge,discharge,soc,settled,"
        .. "solar_home,solar_battery,solar_grid,battery_home,battery_grid,grid_home,grid_battery",
        lines[1])
      local e = assert(client:energy())
      assert.equal(#e.intervals + 1, #lines)
      code, out = run("energy", "--json")
      assert.equal(0, code)
      assert.equal(#e.intervals, #json.decode(out).intervals)
      code, out = run("energy")
      assert.equal(0, code)
      assert.truthy(out:find("\ntotal ", 1, true))
      local errs, _
      code, _, errs = run("energy", "--json", "--csv")
      assert.equal(2, code)
      assert.truthy(errs:find("--csv", 1, true))
    end)
  end)
end)
