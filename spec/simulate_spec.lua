-- `enphase simulate`: a policy and its baseline against the simulated house
-- on a virtual clock; the report's figures agree with the CSV of every
-- interval, the policy is called when it asks, failures are clear.
local chart = require("enphase.lab.chart")
local policy = require("enphase.lab.policy")

local H = require("helpers.client")
local procs = require("helpers.procs")

local read, write = procs.slurp, procs.spit

local function simulate(...)
  return H.main({ "simulate", ... }, {})
end

-- `enphase simulate` with the arguments, which must succeed (exit 0, else
-- the test fails with its stderr). Returns its stdout, decoded when the
-- arguments hold --json, and its stderr.
local function simulated(...)
  local code, out, errs = simulate(...)
  assert.equal(0, code, errs)
  for _, a in ipairs({ ... }) do
    if a == "--json" then
      return require("cjson").decode(out), errs
    end
  end
  return out, errs
end

-- A new scratch folder for each test of the describe block this is called
-- in: `set` gets it before the test, and it is removed after.
local function scratch_folder(set)
  local current
  before_each(function()
    current = procs.tmpdir("simulate")
    set(current)
  end)
  after_each(function()
    procs.rmdir(current)
  end)
end

local function csv_rows(path)
  local rows = {}
  local header
  for line in assert(io.open(path)):lines() do
    local cells = {}
    for c in (line .. ","):gmatch("([^,]*),") do
      cells[#cells + 1] = c
    end
    if not header then
      header = cells
    else
      local r = {}
      for i, name in ipairs(header) do
        r[name] = tonumber(cells[i]) or cells[i]
      end
      rows[#rows + 1] = r
    end
  end
  return rows
end

describe("enphase simulate", function()
  local dir
  scratch_folder(function(d)
    dir = d
  end)

  it("runs the seed's fixed window against do_nothing: report, CSV per interval, charts", function()
    local report = simulated("--policy", "fixed_window", "--days", "2", "--out", dir, "--json")
    assert.equal(3, #report.runs) -- policy, baseline, optimum
    assert.equal("fixed 02:00-05:00 CFG", report.runs[1].policy)
    assert.equal("do nothing", report.runs[2].policy)
    for _, r in ipairs(report.runs) do
      local rows = csv_rows(dir .. "/" .. r.label .. ".csv")
      assert.equal(2 * 96, #rows)
      local cost, import, cfg_charge = 0, 0, 0
      for _, row in ipairs(rows) do
        cost = cost + row.cost
        import = import + row.import_wh / 1000
        assert.near(row.pv_wh + row.import_wh + row.discharge_wh,
          row.load_wh + row.export_wh + row.charge_wh, 0.35)
        if row.time:match("T0[234]:") and row.pv_wh == 0 then
          cfg_charge = cfg_charge + row.charge_wh
        end
      end
      assert.near(r.figures.cost, cost, 0.01)
      assert.near(r.figures.import_kwh, import, 0.01)
      if r.label == "policy" then
        assert.truthy(cfg_charge > 5000, "the 02:00-05:00 window charged from the grid")
        assert.truthy(r.figures.requests > 0 and r.figures.logins >= 1)
      elseif r.label == "baseline" then
        assert.equal(0, cfg_charge)
        assert.equal(0, r.figures.requests)
        assert.equal(0, r.figures.logins)
      end
    end
    assert.truthy(read(dir .. "/report.txt"):find("energy cost", 1, true))
    if chart.available() then
      assert.equal("\137PNG", read(dir .. "/chart.png"):sub(1, 4))
      assert.truthy(read(dir .. "/chart.svg"):find("<svg", 1, true))
    end
  end)

  it("calls the policy at the times it asks for, with the virtual clock and local time", function()
    local log = dir .. "/calls.txt"
    write(dir .. "/p.lua", ([[
      local log = assert(io.open(%q, "w"))
      return { name = "clockwork", run = function(client, ctx)
        local b = assert(client:battery())
        log:write(("%%d %%02d:%%02d %%s %%.0f\n"):format(ctx.now, ctx.time.hour, ctx.time.min,
          tostring(ctx.first), b.soc))
        log:flush()
        return ctx.seconds_until("06:30")
      end }
    ]]):format(log))
    local out = simulated("--policy", dir .. "/p.lua", "--baseline", "none",
      "--days", "3", "--out", dir)
    local calls = {}
    for line in assert(io.open(log)):lines() do
      calls[#calls + 1] = line
    end
    assert.equal(4, #calls) -- the start, then 06:30 on each of the 3 days
    assert.truthy(calls[1]:match(" 00:00 true "))
    for i = 2, 4 do
      assert.truthy(calls[i]:match(" 06:30 false "), calls[i])
    end
    local t1, t2 = calls[2]:match("^(%d+)"), calls[3]:match("^(%d+)")
    assert.equal(86400, tonumber(t2) - tonumber(t1))
    assert.truthy(out:find("policy calls", 1, true))
    assert.is_nil(read(dir .. "/baseline.csv"))
  end)

  it("runs the bundled price-driven policy: cheaper than doing nothing on the bundled week", function()
    local report = simulated("--policy", "price_driven", "--out", dir, "--json", "--no-chart")
    assert.truthy(report.runs[1].figures.cost < report.runs[2].figures.cost)
    assert.truthy(report.seconds < 60)
    assert.is_nil(read(dir .. "/chart.png"))
  end)

  it("price_driven exports when the export beats the imports it would have saved, and it pays", function()
    -- the same policy with its discharges refused, as the baseline: the
    -- difference is the export branch alone
    write(dir .. "/no_export.lua", [[
      local p = require("enphase.lab.policies.price_driven")
      return { name = "price-driven, no export", run = function(client, ctx)
        local proxy = setmetatable({ discharge_for = function() return nil, "no exports" end }, {
          __index = function(_, k)
            local v = client[k]
            if type(v) ~= "function" then
              return v
            end
            return function(_, ...) return v(client, ...) end
          end })
        return p.run(proxy, ctx)
      end }
    ]])
    local report = simulated("--policy", "price_driven", "--baseline", dir .. "/no_export.lua",
      "--out", dir, "--json", "--no-chart")
    local with, without = report.runs[1], report.runs[2]
    assert.equal("price-driven, no export", without.policy)
    -- the branch fires: DTG windows in the evening peak (export 0.25, import
    -- 0.38; the night's import 0.075), exporting
    local peaks, exported = 0, 0
    for _, row in ipairs(csv_rows(dir .. "/policy.csv")) do
      if row.dtg_min > 0 then
        assert.truthy(row.time:match("T1[678]:"), row.time)
        assert.equal(0.25, row.export_price)
        peaks = peaks + 1
        exported = exported + row.export_wh
      end
    end
    assert.truthy(peaks >= 5, "DTG rows: " .. peaks)
    assert.truthy(exported > 5000, "exported " .. exported .. " Wh in DTG rows")
    local _, lines = read(dir .. "/policy.log"):gsub("exporting 16:00%-16:%d%d at 0%.250/kWh", "")
    assert.truthy(lines >= 5, read(dir .. "/policy.log"))
    -- and it pays: cheaper, also with the stored energy counted
    assert.truthy(with.figures.cost < without.figures.cost - 0.5,
      ("%.2f against %.2f"):format(with.figures.cost, without.figures.cost))
    assert.truthy(with.figures.net_cost < without.figures.net_cost - 0.5,
      ("%.2f against %.2f"):format(with.figures.net_cost, without.figures.net_cost))
    -- never below the reserve it keeps, 10 %
    for _, row in ipairs(csv_rows(dir .. "/policy.csv")) do
      assert.truthy(row.soc >= 9.9, row.time .. " " .. row.soc)
    end
  end)

  it("reads the load, solar and tariff CSVs given, and names a bad line", function()
    local load = { "time,watts" }
    local solar = { "time,watts" }
    local tariff = { "time,import,export" }
    for h = 0, 23 do
      local t = ("2026-01-05T%02d:00"):format(h)
      load[#load + 1] = t .. ",1000"
      solar[#solar + 1] = t .. ",0"
      tariff[#tariff + 1] = t .. ",0.5,0.1"
    end
    write(dir .. "/load.csv", table.concat(load, "\n"))
    write(dir .. "/solar.csv", table.concat(solar, "\n"))
    write(dir .. "/tariff.csv", table.concat(tariff, "\n"))
    local f = simulated("--policy", "do_nothing", "--baseline", "none", "--days", "1",
      "--load", dir .. "/load.csv", "--solar", dir .. "/solar.csv", "--tariff", dir .. "/tariff.csv",
      "--initial-soc", "20", "--out", dir, "--json", "--no-chart").runs[1].figures
    -- 24 kWh of load, no PV; the battery gives nothing below its 20 % reserve
    assert.near(24, f.import_kwh, 0.001)
    assert.near(12, f.cost, 0.001)
    assert.near(24, f.reserve_hours, 0.001)
    write(dir .. "/bad.csv", "time,watts\n2026-01-05T00:00,1\n2026-01-05T01:00,lots\n")
    local c, _, err = simulate("--policy", "do_nothing", "--load", dir .. "/bad.csv", "--out", dir)
    assert.equal(2, c)
    assert.truthy(err:find("bad.csv:3", 1, true), err)
  end)

  it("fails clearly: usage, a missing or broken policy, a policy that raises", function()
    for _, args in ipairs({ {}, { "--policy", "nope" }, { "--policy", "do_nothing", "--days", "0" },
                            { "--policy", "do_nothing", "--timezone", "Mars/Base" } }) do
      args[#args + 1] = "--out"
      args[#args + 1] = dir
      local code, _, err = simulate(table.unpack(args))
      assert.equal(2, code, err)
    end
    write(dir .. "/raise.lua", [[return { run = function(client, ctx)
      if ctx.time.hour >= 3 then error("boom at three") end
      return 3600 end }]])
    local code, _, err = simulate("--policy", dir .. "/raise.lua", "--days", "1", "--out", dir)
    assert.equal(1, code)
    assert.truthy(err:find("boom at three", 1, true), err)
    write(dir .. "/zero.lua", "return { run = function() return 0 end }")
    code, _, err = simulate("--policy", dir .. "/zero.lua", "--days", "1", "--out", dir)
    assert.equal(1, code)
    assert.truthy(err:find("seconds to its next call", 1, true), err)
  end)

  it("the chart step degrades with a clear message when gnuplot is missing", function()
    local png, why = chart.draw({ { title = "x", csv = dir .. "/none.csv" } }, dir .. "/chart",
      "no-such-gnuplot-here")
    assert.is_nil(png)
    assert.truthy(why:find("gnuplot-nox", 1, true))
  end)

  it("runs the README's example policy: a timed CFG window 01:00-04:00 on weekdays only", function()
    simulated("--policy", "examples/weekday_night_charge_policy.lua",
      "--baseline", "none", "--days", "7", "--out", dir, "--no-chart")
    local charged = {}
    for _, row in ipairs(csv_rows(dir .. "/policy.csv")) do
      if row.mode == "cfg" then
        local day, hour = row.time:match("^%d+%-%d+%-(%d+)T(%d+):")
        charged[tonumber(day)] = true
        assert.truthy(tonumber(hour) >= 1 and tonumber(hour) < 4, row.time)
      end
    end
    -- the bundled week: Monday 6 to Sunday 12 April
    assert.same({ [6] = true, [7] = true, [8] = true, [9] = true, [10] = true }, charged)
    assert.truthy(read(dir .. "/policy.log"):find("charging until 04:00", 1, true))
  end)

  it("gives a policy the tariff and the next local time it asks for", function()
    local series = require("enphase.sim.series")
    local tz = require("enphase.util.tz")
    local t = tz.to_epoch("Europe/London", 2026, 4, 6, 1, 59, 30)
    local ctx = policy.context(t, "Europe/London", { tariff = assert(series.bundled("tariff")) })
    assert.equal(30, ctx.seconds_until("02:00"))
    assert.equal(86400 - 30, ctx.seconds_until("01:59"))
    assert.same({ 0.075, 0.15 }, { ctx.price(t) })
    assert.same({ 0.38, 0.25 }, { ctx.price(tz.to_epoch("Europe/London", 2026, 4, 6, 17, 0, 0)) })
  end)
end)

describe("enphase policy", function()
  local simulator = require("helpers.sim")
  local sim = simulator.for_file(_ENV)

  local function run(...)
    local env = { ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD,
                  ENPHASE_BASE_URL = sim.base_url }
    local argv = { "policy", ... }
    argv[#argv + 1] = "--no-token-cache"
    return H.main(argv, env)
  end

  it("runs the same policy file once against an account and says when to call it again", function()
    local code, out, errs = run("fixed_window", "--json")
    assert.equal(0, code, errs)
    local v = require("cjson").decode(out)
    assert.equal("fixed 02:00-05:00 CFG", v.policy)
    assert.truthy(v.next_in > 0 and v.next_in <= 86400)
    local client = H.new(sim)
    local list = assert(client:schedules())
    assert.equal(1, #list.cfg)
    assert.equal("02:00", list.cfg[1].start_time)
    assert.is_true(client:settings().charge_from_grid)
    client:close()
    local c, _, err = run("no_such_policy")
    assert.equal(2, c)
    assert.truthy(err:find("no_such_policy", 1, true))
  end)
end)

describe("enphase simulate over any length", function()
  local dir
  scratch_folder(function(d)
    dir = d
  end)

  -- Three days of series from `first` (local), flat load, no PV, one price.
  local function flat_series(first)
    local load, solar, tariff = { "time,watts" }, { "time,watts" }, { "time,import,export" }
    for h = 0, 71 do
      local t = os.date("!%Y-%m-%dT%H:00", first + h * 3600)
      load[#load + 1] = t .. ",400"
      solar[#solar + 1] = t .. ",0"
      tariff[#tariff + 1] = t .. ",0.2,0.05"
    end
    write(dir .. "/load.csv", table.concat(load, "\n"))
    write(dir .. "/solar.csv", table.concat(solar, "\n"))
    write(dir .. "/tariff.csv", table.concat(tariff, "\n"))
    return "--load", dir .. "/load.csv", "--solar", dir .. "/solar.csv", "--tariff",
      dir .. "/tariff.csv"
  end

  it("runs 41 and 100 days whole: every row from the first local midnight, none lost", function()
    for _, days in ipairs({ 41, 100 }) do
      local report = simulated("--policy", "fixed_window", "--days", tostring(days),
        "--out", dir, "--json", "--no-chart")
      for _, r in ipairs(report.runs) do
        local rows = csv_rows(dir .. "/" .. r.label .. ".csv")
        assert.equal(r.rows, #rows)
        -- 2026-04-06 onwards: no clock change before 25 October
        assert.equal(days * 96, #rows)
        assert.equal("2026-04-06T00:00+01:00", rows[1].time)
        for i = 2, #rows do
          assert.equal(900, rows[i].start - rows[i - 1].start)
        end
        local cost = 0
        for _, row in ipairs(rows) do
          cost = cost + row.cost
        end
        assert.near(r.figures.cost, cost, 0.01 * days)
        assert.truthy(r.figures.load_kwh > 10 * days, "a whole load, not a report of zeros")
      end
      assert.equal(days + 1, report.runs[1].figures.calls)
    end
  end)

  it("counts local calendar days: 100 rows the day the clocks go back, 92 when they go forward", function()
    local tz = require("enphase.util.tz")
    for _, case in ipairs({ { 2026, 10, 24, 100, "+01:00", "+00:00" },
                            { 2026, 3, 28, 92, "+00:00", "+01:00" } }) do
      local y, m, d, second_day, before, after = case[1], case[2], case[3], case[4], case[5], case[6]
      local report = simulated("--policy", "do_nothing", "--baseline", "none", "--days", "3",
        "--out", dir, "--json", "--no-chart", flat_series(tz.timegm(y, m, d, 0, 0, 0)))
      local rows = csv_rows(dir .. "/policy.csv")
      assert.equal(96 + second_day + 96, #rows)
      assert.equal(("%04d-%02d-%02dT00:00%s"):format(y, m, d, before), rows[1].time)
      assert.equal(("%04d-%02d-%02dT23:45%s"):format(y, m, d + 2, after), rows[#rows].time)
      local seen = {}
      for _, row in ipairs(rows) do
        assert.is_nil(seen[row.time], "a local time repeated without its UTC offset: " .. row.time)
        seen[row.time] = true
      end
      assert.equal(tz.to_epoch("Europe/London", y, m, d + 3, 0, 0, 0), report.finish)
    end
  end)
end)

describe("a run's results (lab/result.lua)", function()
  local result = require("enphase.lab.result")

  local function row(start)
    return { start = start, seconds = 900, pv_wh = 0, load_wh = 100, import_wh = 100, export_wh = 0,
             charge_wh = 0, discharge_wh = 0, stored_in_wh = 0, stored_out_wh = 0, loss_wh = 0,
             cost = 0.02, import_price = 0.2, export_price = 0.05, soc_start = 50, soc_end = 50,
             reserve_seconds = 0, mode = "self-consumption" }
  end

  it("is an error when the rows are empty, cut by a gap or end early, never a short result", function()
    local opts = { label = "policy", name = "x", zone = "UTC", capacity_kwh = 10, start = 0,
                   finish = 3600 }
    local w = result.writer(opts)
    local run, err = w:close()
    assert.is_nil(run)
    assert.truthy(err:find("no rows", 1, true))
    w = result.writer(opts)
    assert.truthy(w:add(row(0)))
    run, err = w:close()
    assert.is_nil(run)
    assert.truthy(err:find("truncated", 1, true), err)
    w = result.writer(opts)
    assert.truthy(w:add(row(0)))
    local ok, gap = w:add(row(1800))
    assert.is_nil(ok)
    assert.truthy(gap:find("00:15Z was due", 1, true), gap)
    assert.is_nil((w:close()))
    w = result.writer(opts)
    for s = 0, 2700, 900 do
      assert.truthy(w:add(row(s)))
    end
    run = assert(w:close({ calls = 3 }))
    assert.equal(4, run.rows)
    assert.near(0.08, run.figures.cost, 1e-12)
    assert.near(0.4, run.figures.import_kwh, 1e-12)
    assert.equal(3, run.figures.calls)
  end)
end)

describe("enphase simulate: your battery, what a policy sees, files that match the physics", function()
  local dir
  scratch_folder(function(d)
    dir = d
  end)

  it("takes the battery and the house as options, each checked, with the defaults in --help", function()
    local code, out = simulate("--help")
    assert.equal(0, code)
    for _, text in ipairs({ "--capacity KWH", "(default 10;", "--power KW", "(default 7.68;",
                            "--efficiency ROUND_TRIP", "(default 0.90)", "--reserve PCT",
                            "(default 20)", "--very-low PCT", "(default 5)", "--initial-soc PCT",
                            "(default 50)", "--currency LABEL", "(default GBP)",
                            "--timezone TZ", "(default Europe/London)", "--forecast-error PCT" }) do
      assert.truthy(out:find(text, 1, true), text)
    end
    assert.is_nil(out:find("ENPHASE_PASSWORD", 1, true))
    assert.is_nil(out:find("required", 1, true))
    for _, bad in ipairs({ { "--capacity", "-1" }, { "--capacity", "1e9" }, { "--power", "0" },
                           { "--efficiency", "1.5" }, { "--efficiency", "nan" },
                           { "--reserve", "101" }, { "--reserve", "12.5" }, { "--very-low", "3" },
                           { "--initial-soc", "0x10" }, { "--forecast-error", "200" },
                           { "--currency", ("x"):rep(20) } }) do
      local c, _, err = simulate("--policy", "do_nothing", bad[1], bad[2], "--out", dir)
      assert.equal(2, c, table.concat(bad, " "))
      assert.truthy(err:find(bad[1], 1, true), err)
    end
    -- a small, slow, lossless battery with a high reserve
    local report = simulated("--policy", "do_nothing", "--baseline", "none", "--days", "2",
      "--capacity", "5", "--power", "2", "--efficiency", "1", "--reserve", "40", "--very-low", "10",
      "--initial-soc", "60", "--currency", "EUR", "--out", dir, "--json", "--no-chart")
    assert.equal("EUR", report.currency)
    local f = report.runs[1].figures
    assert.near(0, f.loss_kwh, 1e-9)
    assert.near(60, f.soc_start, 1e-9)
    for _, row in ipairs(csv_rows(dir .. "/policy.csv")) do
      assert.truthy(row.charge_wh <= 500 + 1e-6 and row.discharge_wh <= 500 + 1e-6, row.time)
      assert.truthy(row.soc >= 40 - 1e-6, row.time .. ": below the reserve")
      assert.equal(40, row.reserve)
    end
    assert.truthy(read(dir .. "/report.txt"):find("Money in EUR", 1, true))
  end)

  it("gives a policy an integer now, SoC to a tenth, forecasts and seconds counted from ctx.now", function()
    local log = dir .. "/seen.txt"
    write(dir .. "/p.lua", ([[
      local log = assert(io.open(%q, "w"))
      return { name = "observer", run = function(client, ctx)
        local b = assert(client:battery())
        local load = ctx.forecast("load", ctx.now, ctx.now + 3600)
        local pv = ctx.forecast("solar", ctx.now, ctx.now + 900)
        local price = ctx.forecast("price", ctx.now, ctx.now + 900)
        assert(os.date("%%H:%%M", ctx.now)) -- an integer: no "number has no integer representation"
        log:write(("%%s %%d %%s %%s %%d %%.6f %%.6f %%.6f\n"):format(
          ("%%02d:%%02d"):format(ctx.time.hour, ctx.time.min),
          ctx.now, tostring(math.floor(ctx.now) == ctx.now), tostring(b.soc), #load, load[1].watts,
          pv[1].watts, price[1].import))
        log:flush()
        client:sleep(50)   -- time spent inside the call does not push the next one back
        return 5400
      end }
    ]]):format(log))
    local function seen(...)
      simulated("--policy", dir .. "/p.lua", "--baseline", "none", "--days", "1",
        "--out", dir, "--no-chart", ...)
      local rows = {}
      for line in assert(io.open(log)):lines() do
        local hhmm, now, int, soc, n, load, pv, import = line:match(
          "^(%S+) (%d+) (%S+) (%S+) (%d+) (%S+) (%S+) (%S+)$")
        rows[#rows + 1] = { hhmm = hhmm, now = tonumber(now), int = int, soc = tonumber(soc),
                            n = tonumber(n), load = tonumber(load), pv = tonumber(pv),
                            import = tonumber(import) }
      end
      return rows
    end
    local series = require("enphase.sim.series")
    local load_s, pv_s, tariff_s = series.bundled("load"), series.bundled("solar"),
      series.bundled("tariff")
    local perfect = seen()
    assert.equal(16, #perfect) -- every 90 minutes from 00:00, exactly
    local tenths = false
    for i, r in ipairs(perfect) do
      assert.equal("true", r.int)
      assert.equal(("%02d:%02d"):format(math.floor((i - 1) * 90 / 60), (i - 1) * 90 % 60), r.hhmm)
      assert.equal(4, r.n)
      assert.near(load_s:at("Europe/London", r.now).watts, r.load, 1e-9)
      assert.near(pv_s:at("Europe/London", r.now).watts, r.pv, 1e-9)
      assert.near(tariff_s:at("Europe/London", r.now).import, r.import, 1e-9)
      assert.near(math.floor(r.soc * 10 + 0.5) / 10, r.soc, 1e-9)
      tenths = tenths or r.soc ~= math.floor(r.soc)
    end
    assert.truthy(tenths, "the SoC comes to a tenth of a point")
    local noisy = seen("--forecast-error", "20")
    local again = seen("--forecast-error", "20")
    local differ = false
    for i, r in ipairs(noisy) do
      local exact = perfect[i].load
      assert.truthy(math.abs(r.load - exact) <= 0.2 * exact + 1e-9, "within 20 %")
      differ = differ or math.abs(r.load - exact) > 1e-6
      assert.equal(again[i].load, r.load) -- a fixed seed: the same run twice
    end
    assert.truthy(differ, "an error of 20 % changes the forecast")
  end)

  it("finds the next local time across clock changes, and says what is wrong without a tariff", function()
    local tz = require("enphase.util.tz")
    local zone = "Europe/London"
    local function at(y, m, d, h, mi)
      return tz.to_epoch(zone, y, m, d, h, mi, 0)
    end
    local spring = policy.context(at(2026, 3, 29, 0, 0), zone, {})
    -- 01:30 never happens that night: the clock jumps from 01:00 to 02:00
    assert.equal(3600, spring.seconds_until("01:30"))
    assert.equal(7200, spring.seconds_until("03:00"))
    local autumn = policy.context(at(2026, 10, 25, 0, 0), zone, {})
    assert.equal(5400, autumn.seconds_until("01:30")) -- the first 01:30 (BST)
    assert.equal(4 * 3600, autumn.seconds_until("03:00"))
    local ok, err = pcall(spring.price)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("no tariff", 1, true), err)
    ok, err = pcall(spring.forecast, "load", spring.now, spring.now + 900)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("--load", 1, true), err)
  end)

  it("writes rows whose prices, modes and limits match the physics of the row", function()
    -- a 20-minute tariff (prices change inside the 15-minute rows), a CFG
    -- window 01:20-03:10 and a DTG window 17:05-19:00 down to 30 %
    local tariff = { "time,import,export" }
    for m = 0, 24 * 60 - 20, 20 do
      local p = math.floor(m / 20) % 3
      tariff[#tariff + 1] = ("2026-04-06T%02d:%02d,%.2f,%.2f"):format(math.floor(m / 60), m % 60,
        0.1 + 0.1 * p, 0.05 + 0.05 * p)
    end
    write(dir .. "/tariff.csv", table.concat(tariff, "\n"))
    write(dir .. "/p.lua", [[
      return { name = "windows", run = function(client, ctx)
        assert(client:add_schedule({ type = "CFG", start_time = "01:20", end_time = "03:10",
          days = { 1, 2, 3, 4, 5, 6, 7 }, limit = 95 }))
        assert(client:add_schedule({ type = "DTG", start_time = "17:05", end_time = "19:00",
          days = { 1, 2, 3, 4, 5, 6, 7 }, limit = 30 }))
        assert(client:charge_from_grid(true))
        assert(client:discharge_to_grid(true))
        return nil
      end }
    ]])
    local report = simulated("--policy", dir .. "/p.lua", "--days", "2", "--tariff",
      dir .. "/tariff.csv", "--out", dir, "--json", "--no-chart")
    local rows = csv_rows(dir .. "/policy.csv")
    local cfg_rows, dtg_held = 0, 0
    for _, row in ipairs(rows) do
      -- Σ price x energy is the cost column (to the CSV's rounding)
      local priced = (row.import_wh * row.import_price - row.export_wh * row.export_price) / 1000
      assert.near(row.cost, priced, 1e-4 * (row.import_wh + row.export_wh) / 1000 + 5e-5, row.time)
      assert.near(15, row.cfg_min + row.dtg_min + row.rbd_min + row.profile_min, 1e-9, row.time)
      assert.truthy(row.time:match("[+-]%d%d:%d%d$"), row.time)
      -- the mode is the row's majority; grid charging only in CFG minutes
      if row.cfg_min > 7.5 then
        assert.equal("cfg", row.mode, row.time)
        assert.equal(95, row.limit, row.time)
      end
      if row.import_wh > row.load_wh + 1 then
        assert.truthy(row.cfg_min > 0, row.time .. ": charged from the grid outside CFG")
      end
      if row.cfg_min == 15 and row.charge_wh > 1000 then
        cfg_rows = cfg_rows + 1
      end
      if row.dtg_min > 0 then
        assert.equal(30, row.limit, row.time)
      end
      if row.dtg_min == 15 then
        -- at its limit the window holds the battery: never both ways in a row
        assert.truthy(row.charge_wh == 0 or row.discharge_wh == 0, row.time .. ": flip-flop")
        if row.soc <= 30.001 then
          dtg_held = dtg_held + 1
          assert.equal(0, row.charge_wh, row.time)
        end
      end
    end
    assert.truthy(cfg_rows >= 3, "the CFG window charged from the grid")
    assert.truthy(dtg_held >= 2, "the DTG window reached its limit and held")
    -- beside the energy-weighted prices, the tariff's time-weighted means:
    -- the plain average of the row's 15 minutes, appended as the last columns
    local header = assert(io.open(dir .. "/policy.csv")):read("*l")
    assert.equal("time,start,pv_w,load_w,grid_w,battery_w,soc,import_price,export_price,pv_wh,"
      .. "load_wh,import_wh,export_wh,charge_wh,discharge_wh,loss_wh,cost,reserve,mode,cfg_min,"
      .. "dtg_min,rbd_min,profile_min,limit,import_price_mean,export_price_mean", header)
    local changing, differ = 0, 0
    local optimum = csv_rows(dir .. "/optimum.csv")
    assert.equal(#rows, #optimum)
    for i, row in ipairs(rows) do
      -- the optimum's rows (lab/optimum.lua) have them too
      assert.near(row.import_price_mean, optimum[i].import_price_mean, 1e-9, row.time)
      assert.near(row.export_price_mean, optimum[i].export_price_mean, 1e-9, row.time)
      local h, mi = row.time:match("^2026%-04%-06T(%d%d):(%d%d)")
      if h then
        local first = tonumber(h) * 60 + tonumber(mi)
        local import, export = 0, 0
        for m = first, first + 14 do
          local p = math.floor(m / 20) % 3
          import, export = import + (0.1 + 0.1 * p) / 15, export + (0.05 + 0.05 * p) / 15
        end
        assert.near(import, row.import_price_mean, 5e-6, row.time)
        assert.near(export, row.export_price_mean, 5e-6, row.time)
        if first % 20 ~= 0 and first % 20 > 5 then
          changing = changing + 1 -- a price change inside the row
          assert.truthy(math.abs(row.import_price_mean - 0.1 - 0.1 * (math.floor(first / 20) % 3))
            > 0.01, row.time)
        end
        if math.abs(row.import_price_mean - row.import_price) > 0.005 then
          differ = differ + 1 -- energy- and time-weighting differ where the flow is uneven
        end
      end
    end
    assert.truthy(changing >= 40, "rows with a change inside: " .. changing)
    assert.truthy(differ >= 1, "rows whose two weightings differ: " .. differ)
    -- the stored energy at the end, valued at the period's mean import price
    local f = report.runs[1].figures
    local mean = 0.2 -- 0.1, 0.2, 0.3 for 20 minutes each
    assert.near(mean, f.mean_import_price, 1e-9)
    assert.near((f.soc_end - f.soc_start) / 100 * 10 * mean, f.stored_value, 1e-9)
    assert.near(f.cost - f.stored_value, f.net_cost, 1e-9)
    assert.truthy(read(dir .. "/report.txt"):find("mean import price", 1, true))
  end)
end)

describe("enphase simulate and enphase policy against hostile inputs", function()
  local dir
  scratch_folder(function(d)
    dir = d
  end)

  it("never writes through a symbolic link, in --out or as --out", function()
    write(dir .. "/precious", "keep me\n")
    assert(os.execute("mkdir " .. procs.shell_quote(dir .. "/out")))
    for _, name in ipairs({ "policy.csv", "report.txt", "policy.log", "chart.png" }) do
      assert(os.execute(("ln -s %s %s"):format(procs.shell_quote(dir .. "/precious"),
        procs.shell_quote(dir .. "/out/" .. name))))
    end
    simulated("--policy", "do_nothing", "--baseline", "none", "--days", "1",
      "--out", dir .. "/out")
    assert.equal("keep me\n", read(dir .. "/precious"))
    assert.truthy(read(dir .. "/out/policy.csv"):find("^time,"))
    assert(os.execute("ln -s " .. procs.shell_quote(dir .. "/out") .. " "
      .. procs.shell_quote(dir .. "/link")))
    local c, _, err = simulate("--policy", "do_nothing", "--out", dir .. "/link")
    assert.equal(2, c)
    assert.truthy(err:find("symbolic link", 1, true), err)
  end)

  it("refuses numbers beyond a house with the file and line", function()
    write(dir .. "/tariff.csv", "time,import,export\n2026-04-06T00:00,0.2,0.1\n2026-04-06T01:00,1e308,0.1\n")
    write(dir .. "/load.csv", "time,watts\n2026-04-06T00:00,500\n2026-04-06T01:00,5e6\n")
    for _, kind in ipairs({ "tariff", "load" }) do
      local code, _, err = simulate("--policy", "do_nothing", "--" .. kind, dir .. "/" .. kind .. ".csv",
        "--out", dir)
      assert.equal(2, code, err)
      assert.truthy(err:find(kind .. ".csv:3", 1, true), err)
      assert.truthy(err:find("beyond a house", 1, true), err)
    end
  end)

  it("ends with exit 1 and the reason when a policy calls os.exit, no CSV that looks whole", function()
    write(dir .. "/quit.lua", [[return { name = "quitter", run = function(client, ctx)
      if ctx.time.hour >= 5 then os.exit(0) end
      return 3600 end }]])
    local code, _, err = simulate("--policy", dir .. "/quit.lua", "--days", "1", "--out", dir,
      "--no-chart")
    assert.equal(1, code)
    assert.truthy(err:find("os.exit", 1, true), err)
    assert.is_nil(read(dir .. "/policy.csv"))
    assert.is_nil(read(dir .. "/report.txt"))
    -- the baseline and the optimum ran beside it: none of their files stays
    for _, name in ipairs({ "baseline.csv", "baseline.log", "optimum.csv" }) do
      assert.is_nil(read(dir .. "/" .. name), name)
    end
    -- the baseline runs in a child process of its own: its failure is told the same way
    code, _, err = simulate("--policy", "do_nothing", "--baseline", dir .. "/quit.lua", "--days",
      "1", "--out", dir, "--no-chart")
    assert.equal(1, code)
    assert.truthy(err:find("the baseline (quitter) failed", 1, true), err)
    assert.truthy(err:find("os.exit", 1, true), err)
    assert.is_nil(read(dir .. "/baseline.csv"))
    assert.is_nil(read(dir .. "/report.txt"))
  end)
end)

describe("enphase policy --loop", function()
  local simulator = require("helpers.sim")
  local sim = simulator.for_file(_ENV)

  it("waits at least 15 s against a simulator, and longer once the request budget is spent", function()
    local dir = procs.tmpdir("policy")
    write(dir .. "/eager.lua", [[
      local n = 0
      return { name = "eager", run = function(client, ctx)
        n = n + 1
        assert(client:settings())
        if n >= 6 then return nil end
        return 1e-9
      end }
    ]])
    local now = os.time()
    local sleeps = {}
    local env = { ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD,
                  ENPHASE_BASE_URL = sim.base_url, ENPHASE_BUDGET = "8" }
    local code, out, errs = H.main({ "policy", dir .. "/eager.lua", "--loop", "--no-token-cache" },
      env, {
        clock = function()
          return now
        end,
        sleep = function(s)
          sleeps[#sleeps + 1] = s
          now = now + s
        end,
      })
    procs.rmdir(dir)
    assert.equal(0, code, errs)
    local waits = 0
    for _, s in ipairs(sleeps) do
      if s >= 1 then
        waits = waits + 1
        assert.truthy(s >= 15, "a wait of " .. s .. " s")
      end
    end
    assert.equal(5, waits)
    assert.truthy(errs:find("request budget is spent", 1, true), errs)
    local _, lines = out:gsub("next call in", "")
    assert.equal(5, lines)
  end)

  it("fails clearly when the policy asks for a price and no --tariff was given", function()
    local env = { ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD,
                  ENPHASE_BASE_URL = sim.base_url }
    local code, _, errs = H.main({ "policy", "price_driven", "--no-token-cache" }, env)
    assert.equal(1, code)
    assert.truthy(errs:find("no tariff", 1, true), errs)
    assert.truthy(errs:find("--tariff", 1, true), errs)
  end)
end)

describe("enphase policy with series", function()
  local simulator = require("helpers.sim")
  local sim = simulator.for_file(_ENV)

  it("gives ctx.forecast and ctx.price the CSVs given, against the account", function()
    local dir = procs.tmpdir("policy")
    write(dir .. "/load.csv", "time,watts\n2026-04-06T00:00,700\n2026-04-06T00:30,900\n")
    write(dir .. "/tariff.csv", "time,import,export\n2026-04-06T00:00,0.3,0.1\n"
      .. "2026-04-06T00:30,0.3,0.1\n")
    write(dir .. "/seer.lua", [[
      return { name = "seer", run = function(client, ctx)
        local load = ctx.forecast("load", ctx.now, ctx.now + 3600)
        local import = ctx.price()
        ctx.log("load %d..%d import %.2f", #load, load[1].watts, import)
        return nil
      end }
    ]])
    local env = { ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD,
                  ENPHASE_BASE_URL = sim.base_url }
    local code, _, errs = H.main({ "policy", dir .. "/seer.lua", "--load", dir .. "/load.csv",
      "--tariff", dir .. "/tariff.csv", "--timezone", "UTC", "--no-token-cache" }, env)
    assert.equal(0, code, errs)
    local n, w = errs:match("load (%d+)%.%.(%d+) import 0%.30")
    -- an hour from now: 4 quarters, 5 when now is inside one
    assert.truthy(n == "4" or n == "5", errs)
    assert.truthy(w == "700" or w == "900", errs)
    code, _, errs = H.main({ "policy", dir .. "/seer.lua", "--tariff", dir .. "/tariff.csv",
      "--timezone", "UTC", "--no-token-cache" }, env)
    procs.rmdir(dir)
    assert.equal(1, code)
    assert.truthy(errs:find("no load series", 1, true), errs)
  end)
end)
