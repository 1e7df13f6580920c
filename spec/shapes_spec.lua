-- Enlighten as real accounts answer (issue 18): the bodies other clients
-- captured (barneyonline/ha-enphase-energy docs/api/api_spec.md,
-- ENLIGHTEN-API.md), served by the simulator's `shape = "captured"` and
-- `xsrf = "header"` switches or injected as single answers.
local simulator = require("helpers.sim")
local H = require("helpers.client")
local json = require("cjson")

local BC = "/service/batteryConfig/api/v1"
local SETTINGS = BC .. "/batterySettings/" .. H.SITE_ID
local SITE_SETTINGS = BC .. "/siteSettings/" .. H.SITE_ID
local LIST = BC .. "/battery/sites/" .. H.SITE_ID .. "/schedules"
local ISVALID = LIST .. "/isValid"

describe("Enlighten's captured shapes", function()
  local sim = simulator.for_file(_ENV)
  local client, probe, mark

  before_each(function()
    sim:config({ shape = "captured" })
    client, probe = H.new(sim, { timezone = "Europe/London" })
    assert.truthy(client:status())
    mark = #sim:log()
  end)

  after_each(function()
    client:close()
  end)

  local function sent()
    return H.lines(H.since(sim, mark))
  end

  -- One answer of `path` (GET unless `method`), as a real account gives it.
  local function answer(path, body, method, status)
    sim:fault({ path = path, method = method or "GET", action = "body", status = status or 200,
                body = type(body) == "string" and body or json.encode(body) })
  end

  -- A batterySettings body as captured, `over` changing its fields.
  local function settings_body(over)
    local data = {
      profile = "self-consumption", batteryBackupPercentage = 20,
      batteryBackupPercentageMin = 10, batteryBackupPercentageMax = 90,
      chargeFromGrid = false, veryLowSoc = 10, veryLowSocMin = 5, veryLowSocMax = 25,
      cfgControl = { show = true, enabled = false, locked = false, scheduleSupported = true,
                     forceScheduleSupported = true, forceScheduleOpted = true },
      dtgControl = { show = true, enabled = false, locked = false, scheduleSupported = true },
      rbdControl = json.null,
    }
    for k, v in pairs(over or {}) do
      data[k] = v
    end
    return { type = "battery-details", timestamp = 1770000000, data = data }
  end

  describe("error bodies", function()
    it("takes the 409 code from error.status, as the fourth value and in the message", function()
      local first = assert(client:add_schedule({ type = "CFG", start_time = "02:00",
                                                 end_time = "05:00", days = { 1 } }))
      -- the server's own overlap rule, past our check (another family's window)
      sim:fault({ path = LIST, method = "POST", action = "status", status = 409,
                  body = '{"error":{"status":"CONFLICTING_SCHEDULE_DTG","message":"Overlap"}}' })
      local ok, err, kind, code = client:add_schedule({ type = "DTG", start_time = "17:00",
                                                        end_time = "19:00", days = { 2 } })
      assert.is_nil(ok)
      assert.equal("conflict", kind)
      assert.equal("CONFLICTING_SCHEDULE_DTG", code)
      assert.truthy(err:find("CONFLICTING_SCHEDULE_DTG: Overlap", 1, true), err)
      assert.is_string(first)
    end)

    it("reads the simulator's captured conflict too, and the older flat shape", function()
      local api = require("enphase.transport.api")
      local cases = {
        { { error = { status = "CONFLICTING_SCHEDULE_CFG", message = "m" } },
          "CONFLICTING_SCHEDULE_CFG", "m" },
        { { code = "CONFLICTING_SCHEDULE_RBD", message = "m", status = 409 },
          "CONFLICTING_SCHEDULE_RBD", "m" },
        { { error = { code = "X1" } }, "X1", nil },
        { { timestamp = "t", status = 403, error = "Forbidden", path = "/p" }, nil, "Forbidden" },
        { { message = "Invalid" }, nil, "Invalid" },
        { { error = { status = "ALREADY_PROCESSED" } }, "ALREADY_PROCESSED", nil },
        { "not a table", nil, nil },
      }
      for i, c in ipairs(cases) do
        local code, message = api.server_error({ data = c[1] })
        assert.same({ c[2], c[3] }, { code, message }, "case " .. i)
      end
    end)

    it("treats the captured 409 ALREADY_PROCESSED of a cancel as nothing pending", function()
      assert.same({ true, "nothing pending" }, { client:cancel_pending_profile() })
    end)
  end)

  describe("bounds", function()
    it("moves a DTG window the Enphase app made with limit 5, the limit unchanged", function()
      local id = assert(client:add_schedule({ type = "DTG", start_time = "17:00",
                                              end_time = "19:00", days = { 1 }, limit = 6 }))
      -- the cloud answers the window with the app's limit 5
      local body = { type = "BATTERY_SCHEDULES_CONFIG", anySchedulePending = false,
        cfg = { scheduleStatus = "active", details = {} },
        dtg = { scheduleStatus = "active", details = { {
          scheduleId = id, scheduleType = "DTG", startTime = "17:00", endTime = "19:00",
          limit = 5, days = { 1 }, timezone = "Europe/London", scheduleStatus = "active",
          isEnabled = true, isDeleted = false } } },
        rbd = { scheduleStatus = "active", details = {} } }
      answer(LIST, body)
      mark = #sim:log()
      assert.equal("applied", client:update_schedule(id, { start_time = "18:00",
                                                           end_time = "20:00" }))
      local put = sim:requests_matching("PUT", LIST .. "/" .. id)[1]
      assert.truthy(put, "the update was sent")
      assert.equal(5, json.decode(put.body).limit)
      -- the same limit given explicitly is the cloud's own value too
      answer(LIST, body)
      assert.equal("applied", client:update_schedule(id, { limit = 5 }))
      -- a new value keeps the seed's range
      answer(LIST, body)
      local ok, err, kind = client:update_schedule(id, { limit = 4 })
      assert.is_nil(ok)
      assert.equal("input", kind)
      assert.truthy(err:find("limit must be an integer from 6 to 100", 1, true), err)
    end)

    it("checks the reserve against the account's batteryBackupPercentageMin/Max", function()
      answer(SETTINGS, settings_body())
      local ok, err, kind = client:set_reserve(95)
      assert.is_nil(ok)
      assert.equal("input", kind)
      assert.truthy(err:find("from 10 to 90 for this site", 1, true), err)
      for _, line in ipairs(sent()) do
        assert.is_nil(line:find("^PUT"), "nothing written")
      end
      -- the seed's 0-100 where the account gives no bounds
      answer(SETTINGS, settings_body({ batteryBackupPercentageMin = json.null,
                                       batteryBackupPercentageMax = json.null }))
      assert.is_true((client:set_reserve(95)))
    end)

    it("writes back the reserve the cloud holds even outside the account's bounds", function()
      answer(SETTINGS, settings_body({ batteryBackupPercentage = 5 }))
      local ok, err = client:set_profile("self-consumption", 5)
      assert.is_true(ok, err)
    end)

    it("checks the very-low state of charge against veryLowSocMin/Max", function()
      answer(SETTINGS, settings_body())
      local ok, err, kind = client:set_very_low_soc(30)
      assert.is_nil(ok)
      assert.equal("input", kind)
      assert.truthy(err:find("from 5 to 25 for this site", 1, true), err)
    end)
  end)

  describe("settings, schedules and capabilities", function()
    it("reads rbdControl: null as off, so restrict_discharge(false) is applied", function()
      local s = assert(client:settings())
      assert.is_false(s.restrict_discharge)
      assert.is_true(client:restrict_discharge(true))
      assert.is_true(client:restrict_discharge(false))
      assert.is_false(client:settings().restrict_discharge)
    end)

    it("takes pending from a family's scheduleStatus without anySchedulePending", function()
      answer(LIST, { type = "BATTERY_SCHEDULES_CONFIG",
        cfg = { scheduleStatus = "pending", details = {} },
        dtg = { scheduleStatus = "active", details = {} },
        rbd = { scheduleStatus = "not_supported", details = json.null } })
      local list = assert(client:schedules())
      assert.is_true(list.pending)
      assert.equal("not_supported", list.status.rbd)
      assert.equal("pending", list.status.cfg)
    end)

    it("enphase schedule list reports a not_supported family as such", function()
      local list = { type = "BATTERY_SCHEDULES_CONFIG", anySchedulePending = false,
        cfg = { scheduleStatus = "active", details = {} },
        dtg = { scheduleStatus = "active", details = {} },
        rbd = { scheduleStatus = "not_supported", details = json.null } }
      local env = { ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD,
                    ENPHASE_BASE_URL = sim.base_url }
      answer(LIST, list)
      local code, out, err = H.main({ "schedule", "list", "--no-token-cache" }, env)
      assert.equal(0, code, err)
      assert.truthy(out:find("RBD schedules: not supported", 1, true), out)
      answer(LIST, list)
      code, out, err = H.main({ "schedule", "list", "--json", "--no-token-cache" }, env)
      assert.equal(0, code, err)
      assert.equal("not_supported", json.decode(out).status.rbd)
    end)

    it("refuses a schedule of a family the list says is not_supported, sending nothing", function()
      answer(LIST, { type = "BATTERY_SCHEDULES_CONFIG", anySchedulePending = false,
        cfg = { scheduleStatus = "active", details = {} },
        dtg = { scheduleStatus = "active", details = {} },
        rbd = { scheduleStatus = "not_supported", details = json.null } })
      local ok, err, kind = client:add_schedule({ type = "RBD", start_time = "10:00",
                                                  end_time = "11:00", days = { 6 } })
      assert.is_nil(ok)
      assert.equal("unsupported", kind)
      assert.truthy(err:find("not_supported", 1, true))
      assert.same({ "GET " .. LIST }, sent())
    end)

    it("refuses a schedule whose control says scheduleSupported: false, sending nothing", function()
      answer(SETTINGS, settings_body({ dtgControl = { show = true, enabled = false,
                                                      locked = false, scheduleSupported = false } }))
      assert.truthy(client:settings())
      mark = #sim:log()
      local ok, err, kind = client:add_schedule({ type = "DTG", start_time = "17:00",
                                                  end_time = "19:00", days = { 1 } })
      assert.is_nil(ok)
      assert.equal("unsupported", kind)
      assert.truthy(err:find("scheduleSupported is false", 1, true), err)
      assert.same({}, sent())
    end)

    it("trusts cfgControl.show over siteSettings' showChargeFromGrid: false", function()
      local site = assert(client:site_settings())
      assert.is_false(site.showChargeFromGrid) -- the EMEA capture
      assert.is_nil(site.showDischargeToGrid)
      assert.is_true(client:charge_from_grid(true))
      assert.is_true(client:settings().charge_from_grid)
    end)

    it("refuses a locked control before any write, saying it is locked", function()
      answer(SETTINGS, settings_body({ dtgControl = { show = true, enabled = false, locked = true,
                                                      scheduleSupported = true } }))
      local ok, err, kind = client:discharge_to_grid(true)
      assert.is_nil(ok)
      assert.equal("unsupported", kind)
      assert.truthy(err:find("locked", 1, true))
      assert.same({ "GET " .. SETTINGS }, sent())
    end)

    it("refuses a control whose show is false", function()
      answer(SETTINGS, settings_body({ cfgControl = { show = false, enabled = false } }))
      local ok, err, kind = client:charge_from_grid(true)
      assert.is_nil(ok)
      assert.equal("unsupported", kind)
      assert.truthy(err:find("cfgControl.show is false", 1, true))
      assert.same({ "GET " .. SETTINGS }, sent())
    end)
  end)

  describe("the 403 fallback (siteSettings' x-csrf-token)", function()
    local function count(lines, wanted)
      local n = 0
      for _, line in ipairs(lines) do
        n = n + (line == wanted and 1 or 0)
      end
      return n
    end

    it("takes the XSRF token from siteSettings' header when isValid sets no cookie", function()
      sim:config({ xsrf = "header" })
      local fresh = H.new(sim)
      local st = assert(fresh:status())
      assert.equal("OK", st.status)
      mark = #sim:log()
      assert.is_true(fresh:discharge_to_grid(true))
      local log = H.since(sim, mark)
      local put
      for _, e in ipairs(log) do
        put = put or (e.method == "PUT" and e or nil)
      end
      assert.equal(fresh:tokens().xsrf, put.headers["x-xsrf-token"])
      assert.is_true(fresh:settings().discharge_to_grid)
      fresh:close()
    end)

    it("retries a write refused with 403 once with the header's token", function()
      sim:config({ xsrf = "header" })
      local fresh = H.new(sim)
      assert.truthy(fresh:status())
      assert.truthy(fresh:settings())
      sim:revoke({ xsrf = true })
      mark = #sim:log()
      assert.is_true(fresh:charge_from_grid(true))
      local lines = sent()
      assert.equal(1, count(lines, "GET " .. SITE_SETTINGS), table.concat(lines, "\n"))
      assert.is_true(fresh:settings().charge_from_grid)
      fresh:close()
    end)

    it("never asks siteSettings more than once per write", function()
      sim:fault({ path = SETTINGS, method = "PUT", action = "status", status = 403, count = 50 })
      local ok, err, kind = client:charge_from_grid(true)
      assert.is_nil(ok)
      assert.equal("http", kind)
      assert.truthy(err:find("403", 1, true), err)
      local lines = sent()
      assert.equal(1, count(lines, "GET " .. SITE_SETTINGS))
      -- new XSRF (isValid), the header's token, a new JWT: four tries in all
      assert.equal(4, count(lines, "PUT " .. SETTINGS), table.concat(lines, "\n"))
    end)
  end)

  describe("profile changes that hang", function()
    -- a client whose sleeps move the simulator's clock (and its own)
    local function waiting(extra)
      local slept = {}
      local opts = { sleep = function(secs)
        slept[#slept + 1] = secs
        sim:clock(secs)
      end }
      for k, v in pairs(extra or {}) do
        opts[k] = v
      end
      local c, p = H.new(sim, opts)
      p.sleeps = slept
      return c, p
    end

    it("shows requestedConfig while a change is pending", function()
      sim:config({ pending_seconds = 3600 })
      local c = waiting({ profile_wait = 0 })
      assert.same({ true, "pending" }, { c:set_profile("cost_savings", 30) })
      local p = assert(c:profile())
      assert.is_true(p.pending)
      assert.same({ profile = "cost_savings", reserve = 30, sub_type = "prioritize-energy" },
        p.requested)
      c:close()
    end)

    it("waits for a pending change through the injected sleep until it is applied", function()
      sim:config({ pending_seconds = 150 })
      local c, p = waiting()
      assert.same({ true, "applied" }, { c:set_profile("backup_only", 100) })
      assert.same({ 60, 60, 60 }, p.sleeps)
      c:close()
    end)

    it("gives up after profile_wait (900 s by default) and says it is still pending", function()
      sim:config({ pending_seconds = 3600 })
      local c, p = waiting()
      local ok, state = c:set_profile("backup_only", 100)
      assert.same({ true, "pending" }, { ok, state })
      local total = 0
      for _, secs in ipairs(p.sleeps) do
        total = total + secs
      end
      assert.equal(900, total)
      local warned = false
      for _, line in ipairs(p.lines) do
        warned = warned or line:find("still pending after 900 s", 1, true) ~= nil
      end
      assert.is_true(warned)
      -- a shorter wait of one's own
      c:close()
      c, p = waiting({ profile_wait = 120, profile_interval = 30 })
      assert.same({ true, "pending" }, { c:set_profile("self-consumption", 20) })
      assert.same({ 30, 30, 30, 30 }, p.sleeps)
      assert.same({ true, "cancelled" }, { c:cancel_pending_profile() })
      assert.is_false(c:profile().pending)
      c:close()
    end)

    it("enphase profile waits ENPHASE_PROFILE_WAIT seconds, then says still pending", function()
      sim:config({ pending_seconds = 3600 })
      local env = { ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD,
                    ENPHASE_BASE_URL = sim.base_url, ENPHASE_PROFILE_WAIT = "0" }
      local code, out, err = H.main({ "profile", "backup_only", "--reserve", "100",
                                      "--no-token-cache" }, env)
      assert.equal(0, code, err)
      assert.truthy(out:find("still pending", 1, true), out)
      env.ENPHASE_PROFILE_WAIT = "soon"
      code, out, err = H.main({ "profile", "backup_only", "--reserve", "100",
                                "--no-token-cache" }, env)
      assert.equal("", out)
      assert.equal(2, code)
      assert.truthy(err:find("ENPHASE_PROFILE_WAIT", 1, true), err)
    end)

    it("enphase profile shows the requested change and --cancel cancels it", function()
      sim:config({ pending_seconds = 3600 })
      local c = waiting({ profile_wait = 0 })
      assert.truthy(c:set_profile("cost_savings", 40))
      c:close()
      local env = { ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD,
                    ENPHASE_BASE_URL = sim.base_url, ENPHASE_TOKEN_CACHE = "" }
      local code, out, err = H.main({ "profile", "--no-token-cache" }, env)
      assert.equal(0, code, err)
      assert.truthy(out:find("requested profile:%s+cost_savings"), out)
      assert.truthy(out:find("requested reserve %%:%s+40"), out)
      code, out, err = H.main({ "profile", "--cancel", "--no-token-cache" }, env)
      assert.equal(0, code, err)
      assert.truthy(out:find("cancelled", 1, true), out)
    end)
  end)

  local STATUS = "/pv/settings/" .. H.SITE_ID .. "/battery_status.json"
  local TODAY = "/pv/systems/" .. H.SITE_ID .. "/today"
  local function cli(...)
    local env = { ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD,
                  ENPHASE_BASE_URL = sim.base_url }
    local argv = { ... }
    argv[#argv + 1] = "--no-token-cache"
    return H.main(argv, env)
  end

  describe("telemetry fields", function()
    local captured = {
      current_charge = "60%", available_energy = 6, max_capacity = 10, available_power = 3.84,
      max_power = 7.68, included_count = 1, excluded_count = 1,
      storages = {
        { serial_number = "482300000001", current_charge = "60%", available_energy = 3,
          max_capacity = 5, available_power = 3.84, max_power = 3.84, rated_power = 3.84,
          status = "normal", statusText = "Normal", battery_mode = "Self - Consumption",
          excluded = false, error_code = json.null, error_text = json.null, led_status = 14,
          last_report = 1770000001, cycle_count = 115, battery_soh = "100%" },
        { serial_number = "482300000002", current_charge = "N/A", available_energy = 0,
          max_capacity = 5, rated_power = 3.84, status = "error", statusText = "Error",
          battery_mode = "Self - Consumption", excluded = true, error_code = "BMU_COMM",
          error_text = "Battery not communicating", led_status = 17,
          last_report = 1770000001, cycle_count = 90, battery_soh = "98%" },
      },
    }

    it("reads each battery's excluded flag, error, status text, mode and rated power", function()
      answer(STATUS, captured)
      local b = assert(client:battery())
      assert.same({ 1, 1 }, { b.included_count, b.excluded_count })
      local x, y = b.batteries[1], b.batteries[2]
      assert.same({ false, "Normal", "Self - Consumption", 3.84, 3.84, 3.84 },
        { x.excluded, x.status_text, x.mode, x.rated_power, x.available_kw, x.max_kw })
      assert.is_nil(x.error_code)
      assert.same({ true, "BMU_COMM", "Battery not communicating", "Error" },
        { y.excluded, y.error_code, y.error_text, y.status_text })
    end)

    it("shows them in enphase battery, as a table and --json", function()
      answer(STATUS, captured)
      local code, out, err = cli("battery")
      assert.equal(0, code, err)
      assert.truthy(out:find("batteries excluded:%s+1"), out)
      assert.truthy(out:find("BMU_COMM: Battery not communicating", 1, true), out)
      assert.truthy(out:find("Self - Consumption", 1, true), out)
      assert.truthy(out:find("yes", 1, true), out)
      answer(STATUS, captured)
      code, out, err = cli("battery", "--json")
      assert.equal(0, code, err)
      local v = json.decode(out)
      assert.same({ 1, 1 }, { v.included_count, v.excluded_count })
      assert.same({ true, "BMU_COMM", "Error", 3.84 }, { v.batteries[2].excluded,
        v.batteries[2].error_code, v.batteries[2].status_text, v.batteries[2].rated_power })
    end)

    it("reads the flows between sources into client:energy() and energy --csv", function()
      sim:control("POST", "/__sim/clock", { advance = 3 * 3600 })
      local e = assert(client:energy())
      assert.same({ "solar_home", "solar_battery", "solar_grid", "battery_home", "battery_grid",
                    "grid_home", "grid_battery" }, e.flows)
      for _, iv in ipairs(e.intervals) do
        if iv.charge then
          assert.near(iv.charge, iv.solar_battery + iv.grid_battery, 1.01)
        end
      end
      local code, out = cli("energy", "--csv")
      assert.equal(0, code)
      local header = out:match("^[^\n]+")
      assert.truthy(header:find(",solar_battery,", 1, true), header)
      local second = select(2, out:match("^([^\n]+)\n([^\n]+)"))
      local cells = 0
      for _ in (second .. ","):gmatch("([^,]*),") do
        cells = cells + 1
      end
      assert.equal(16, cells)
    end)

    it("reports a total the answer lacks as missing, never as a sum of the intervals", function()
      -- the captured shape: no charge, discharge or export total
      local e = assert(client:energy())
      assert.is_number(e.totals.production)
      assert.is_nil(e.totals.charge)
      assert.is_nil(e.totals.export)
      local missing = table.concat(e.missing_totals, ",")
      for _, name in ipairs({ "charge", "discharge", "export" }) do
        assert.truthy(missing:find(name, 1, true), missing)
      end
      local code, out = cli("energy")
      assert.equal(0, code)
      local total = out:match("\ntotal[^\n]*")
      assert.truthy(total:find("-", 1, true), total)
      code, out = cli("energy", "--json")
      assert.equal(0, code)
      local v = json.decode(out)
      assert.is_nil(v.totals.charge)
      assert.is_table(v.missing_totals)
    end)
  end)

  describe("numbers beyond any battery or house (issue 14, item 6)", function()
    local function today(stats)
      local base = { start_time = 1770000000, interval_length = 900,
                     production = { 100, 200 }, consumption = { 50, 50 } }
      for k, v in pairs(stats) do
        base[k] = v
      end
      answer(TODAY, { stats = { base } })
    end

    it("refuses two buckets of 1e308 Wh as protocol, naming the field", function()
      today({ production = { 1e308, 1e308 } })
      local e, err, kind = client:energy()
      assert.is_nil(e)
      assert.equal("protocol", kind)
      assert.truthy(err:find("stats.production[1]", 1, true), err)
      for _, args in ipairs({ { "energy" }, { "energy", "--json" }, { "energy", "--csv" } }) do
        today({ production = { 1e308, 1e308 } })
        local code, out, errs = cli(table.unpack(args))
        assert.equal(1, code, table.concat(args, " "))
        assert.is_nil((out .. errs):find("inf", 1, true))
        assert.truthy((out .. errs):find("stats.production[1]", 1, true), out .. errs)
      end
    end)

    it("refuses a start_time of 1e300 or -1e18 without raising, in every output", function()
      for _, start in ipairs({ 1e300, -1e18 }) do
        today({ start_time = start })
        local e, err, kind = client:energy()
        assert.is_nil(e)
        assert.equal("protocol", kind)
        assert.truthy(err:find("stats.start_time", 1, true), err)
        for _, args in ipairs({ { "energy" }, { "energy", "--csv" }, { "energy", "--json" } }) do
          today({ start_time = start })
          local code, out, errs = cli(table.unpack(args))
          assert.equal(1, code)
          assert.is_nil((out .. errs):find("inf", 1, true))
          assert.truthy((out .. errs):find("stats.start_time", 1, true), out .. errs)
        end
      end
    end)

    it("refuses a battery of 1e12 kWh, naming the field", function()
      answer(STATUS, { current_charge = "50%", available_energy = 1e12, storages = {} })
      local b, err, kind = client:battery()
      assert.is_nil(b)
      assert.equal("protocol", kind)
      assert.truthy(err:find("available_energy", 1, true), err)
    end)

    it("prints an empty battery list as [] (fault 7)", function()
      answer(STATUS, { current_charge = "N/A", storages = {} })
      local code, out, err = cli("battery", "--json")
      assert.equal(0, code, err)
      assert.truthy(out:find('"batteries":[]', 1, true), out)
      answer(TODAY, { stats = { { start_time = 1770000000, production = {} } } })
      code, out, err = cli("energy", "--json")
      assert.equal(0, code, err)
      assert.truthy(out:find('"intervals":[]', 1, true), out)
    end)
  end)

  local _ = { ISVALID, probe }
end)
