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

  local _ = { ISVALID, probe }
end)
