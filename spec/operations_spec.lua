-- The battery operations of the C module (src/battery.c): each builds its
-- method, path, query, headers and JSON body; s:plan returns that request
-- without sending it, s:send sends exactly it. Checked on what the
-- simulator received.
local simulator = require("helpers.sim")
local H = require("helpers.client")
local core = require("enphase.core")
local json = require("cjson")

local BC = "/service/batteryConfig/api/v1"

-- The arguments each operation is exercised with.
local ARGS = {
  validate = { mode = "cfg" },
  settings_get = nil,
  settings_put = { charge_from_grid = true, accepted_itc_at = 1767225600.25 },
  site_settings = nil,
  profile_get = nil,
  profile_put = { profile = "cost_savings", reserve = 30 },
  profile_cancel = nil,
  schedules_get = nil,
  schedule_add = { type = "CFG", start_time = "02:00", end_time = "05:00", limit = 100,
                   days = { 1, 2, 3 }, timezone = "Europe/London" },
  schedule_update = { id = "0d7e3c52-1111-4a4a-9f9f-000000000001", type = "CFG",
                      start_time = "02:00", end_time = "04:00", limit = 90, days = { 1 },
                      timezone = "Europe/London" },
  schedule_delete = { id = "0d7e3c52-1111-4a4a-9f9f-000000000001" },
  storm_alerts_get = nil,
  storm_guard_put = { enabled = true, ev = false },
  storm_alert_opt_out = { id = "a-1", name = "Wind" },
}

-- A session and its site's facts (the ids' one home, which it reads).
local function new_session(sim)
  local site = {}
  return core.new({ base_url = sim.base_url, email = H.EMAIL, password = H.PASSWORD, timeout = 5,
                    site = site }), site
end

describe("the battery operations", function()
  local sim = simulator.for_file(_ENV)

  it("are the design card's eleven and Storm Guard's three, each with its method", function()
    assert.same({
      validate = "POST", settings_get = "GET", settings_put = "PUT", site_settings = "GET",
      profile_get = "GET", profile_put = "PUT", profile_cancel = "PUT", schedules_get = "GET",
      schedule_add = "POST", schedule_update = "PUT", schedule_delete = "POST",
      storm_alerts_get = "GET", storm_guard_put = "PUT", storm_alert_opt_out = "PUT",
    }, core.OPERATIONS)
  end)

  it("send exactly the request their plan shows, with the seed's headers", function()
    local s, site = new_session(sim)
    assert.truthy(s:login())
    site.site_id = assert(s:discover_site())
    site.user_id = assert(s:discover_user())
    assert.truthy(s:fetch_xsrf())
    local secrets = s:secrets()
    for op in pairs(core.OPERATIONS) do
      local plan = s:plan(op, ARGS[op])
      local mark = #sim:log()
      local status, _, headers, label = s:send(op, ARGS[op])
      assert.is_number(status, op)
      assert.is_table(headers, op)
      assert.equal(plan.method .. " " .. plan.path, label, op)
      local got = H.since(sim, mark)
      assert.equal(1, #got, op)
      local e = got[1]
      assert.equal(plan.method, e.method, op)
      assert.equal(plan.path, e.path, op)
      assert.equal(plan.query, e.query ~= "" and e.query or nil, op)
      assert.equal(plan.url, sim.base_url .. e.path .. (plan.query and ("?" .. e.query) or ""), op)
      assert.equal(plan.body, e.body ~= "" and e.body or nil, op)
      for name, value in pairs(plan.headers) do
        if value:find("[REDACTED]", 1, true) then
          assert.is_nil(value:find(secrets.token, 1, true), op)
        elseif name ~= "cookie" then
          assert.equal(value, e.headers[name], op .. " " .. name)
        end
      end
      assert.equal(secrets.token, e.headers["e-auth-token"], op)
      assert.equal(s:secrets().xsrf, e.headers["x-xsrf-token"], op)
    end
    s:close()
  end)

  it("write the seed's bodies", function()
    local s, site = new_session(sim)
    site.site_id, site.user_id = H.SITE_ID, H.USER_ID
    local function body(op, args)
      return json.decode(s:plan(op, args).body)
    end
    assert.same({ scheduleType = "cfg", forceScheduleOpted = true }, body("validate", { mode = "cfg" }))
    assert.same({ scheduleType = "dtg" }, body("validate", { mode = "dtg" }))
    assert.same({ scheduleType = "rbd" }, body("validate", { mode = "rbd" }))
    assert.same({ chargeFromGrid = false, acceptedItcDisclaimer = "2026-01-01T00:00:00.250Z" },
      body("settings_put", { charge_from_grid = false, accepted_itc_at = 1767225600.25 }))
    assert.same({ dtgControl = { enabled = true } }, body("settings_put", { discharge_to_grid = true }))
    assert.same({ rbdControl = { enabled = false } },
      body("settings_put", { restrict_discharge = false }))
    assert.same({ veryLowSoc = 12 }, body("settings_put", { very_low_soc = 12 }))
    assert.same({ profile = "self-consumption", batteryBackupPercentage = 20 },
      body("profile_put", { profile = "self-consumption", reserve = 20 }))
    for _, p in ipairs({ "cost_savings", "ai_optimisation" }) do
      assert.same({ profile = p, batteryBackupPercentage = 20, operationModeSubType = "prioritize-energy" },
        body("profile_put", { profile = p, reserve = 20 }))
    end
    assert.same({}, body("profile_cancel"))
    assert.equal('{"stormGuardState":"enabled","evseStormEnabled":true}',
      s:plan("storm_guard_put", { enabled = true, ev = true }).body)
    assert.same({ stormAlerts = { { id = "a-1", name = "", status = "opted-out" } } },
      body("storm_alert_opt_out", { id = "a-1", name = "" }))
    assert.same({}, body("schedule_delete", { id = "abc-1" }))
    assert.equal('{"timezone":"Europe/London","startTime":"02:00","endTime":"05:00","limit":100,'
      .. '"scheduleType":"CFG","days":[1,2,3],"isEnabled":true}',
      s:plan("schedule_add", ARGS.schedule_add).body)
    -- strings are escaped, never spliced
    assert.same({ profile = 'a"b\\c\n', batteryBackupPercentage = 0 },
      body("profile_put", { profile = 'a"b\\c\n', reserve = 0 }))
    local p = s:plan("settings_get")
    assert.equal(("%s/batterySettings/%d"):format(BC, H.SITE_ID), p.path)
    assert.equal(("userId=%d&source=enlm"):format(H.USER_ID), p.query)
    assert.equal(("source=enho&userId=%d"):format(H.USER_ID), s:plan("profile_get").query)
    assert.equal(("userId=%d"):format(H.USER_ID), s:plan("site_settings").query)
    assert.equal(("%s/battery/sites/%d/schedules/abc-1/delete"):format(BC, H.SITE_ID),
      s:plan("schedule_delete", { id = "abc-1" }).path)
    s:close()
  end)

  it("plan with placeholders what is not known yet, and never show a secret", function()
    local s, site = new_session(sim)
    local p = s:plan("settings_put", { discharge_to_grid = true })
    assert.equal(sim.base_url .. BC .. "/batterySettings/<site>?userId=<user>&source=enho", p.url)
    assert.equal("<user>", p.headers.username)
    assert.equal("[REDACTED]", p.headers["e-auth-token"])
    assert.equal("[REDACTED]", p.headers["x-xsrf-token"])
    assert.equal(BC .. "/battery/sites/<site>/schedules/<id>", s:plan("schedule_update", {}).path)
    assert.same({ profile = "<current>", batteryBackupPercentage = 40 },
      json.decode(s:plan("profile_put", { reserve = 40 }).body))
    -- sending needs the ids and every field
    assert.has_error(function() s:send("settings_get") end)
    site.site_id, site.user_id = H.SITE_ID, H.USER_ID
    assert.has_error(function() s:send("profile_put", { reserve = 40 }) end)
    assert.has_error(function() s:send("schedule_delete", {}) end)
    assert.equal(0, #sim:log())
    assert.truthy(s:login())
    local plan = s:plan("settings_get")
    local token = s:secrets().token
    for _, v in pairs(plan.headers) do
      assert.is_nil(v:find(token, 1, true))
    end
    s:close()
  end)

  it("refuse wrong arguments before sending anything", function()
    local s, site = new_session(sim)
    site.site_id, site.user_id = H.SITE_ID, H.USER_ID
    local bad = {
      { "frobnicate" },
      { "validate", { mode = "xyz" } },
      { "validate", {} },
      { "validate", { mode = "cfg", extra = 1 } },
      { "settings_put", {} },
      { "settings_put", { charge_from_grid = "yes" } },
      { "settings_put", { very_low_soc = 101 } },
      { "settings_put", { very_low_soc = 1.5 } },
      { "settings_put", { accepted_itc_at = -1, charge_from_grid = true } },
      { "profile_put", { profile = "x", reserve = -1 } },
      { "profile_put", { profile = ("x"):rep(33), reserve = 1 } },
      { "schedule_add", { type = "CFG", start_time = "02:00", end_time = "05:00", limit = 100,
                          days = { 8 }, timezone = "UTC" } },
      { "schedule_add", { type = "CFG", start_time = "02:00", end_time = "05:00", limit = 100,
                          days = {}, timezone = "UTC" } },
      { "schedule_delete", { id = "../x" } },
      { "schedule_delete", { id = "a b" } },
      { "storm_guard_put", { ev = true } },
      { "storm_alert_opt_out", { id = "a/1", name = "x" } },
      { "settings_get", "not a table" },
      { "settings_get", { [1] = true } },
    }
    for _, case in ipairs(bad) do
      assert.has_error(function() s:plan(case[1], case[2]) end, nil, case[1])
      assert.has_error(function() s:send(case[1], case[2]) end, nil, case[1])
    end
    assert.equal(0, #sim:log())
    s:close()
  end)
end)
