-- Storm Guard: state and alerts, the toggle, the opt-out of an alert, in
-- the library, the command line and the simulator.
local simulator = require("helpers.sim")
local H = require("helpers.client")
local procs = require("helpers.procs")
local json = require("cjson")

local BC = "/service/batteryConfig/api/v1"

describe("Storm Guard", function()
  local sim = simulator.for_file(_ENV)

  local function account()
    return sim:state().accounts[1]
  end

  it("reads the state and the alerts, an active one included", function()
    local client = H.new(sim)
    local t = assert(client:storm_guard())
    assert.same({ false, false, false, {} }, { t.enabled, t.ev, t.active, t.alerts })
    sim:storm_alert({ id = "alert-1", name = "Winter Storm Warning", critical = true,
                      duration = 3600 })
    sim:storm_alert({ id = "alert-0", status = "expired" })
    t = assert(client:storm_guard())
    assert.is_true(t.active)
    assert.is_true(t.critical_alert_active)
    assert.equal(2, #t.alerts)
    local a = t.alerts[1]
    assert.same({ "alert-1", "Winter Storm Warning", "active", true },
      { a.id, a.name, a.status, a.critical })
    assert.is_true(a.end_time - a.start_time == 3600)
    local lines = H.lines(sim:log())
    assert.equal("GET " .. BC .. "/profile/" .. H.SITE_ID, lines[#lines - 1])
    assert.equal("GET " .. BC .. "/stormGuard/" .. H.SITE_ID .. "/stormAlert", lines[#lines])
  end)

  it("turns it on and off, keeping or setting the EV flag, and reads it back", function()
    local client = H.new(sim)
    assert.is_true(client:set_storm_guard(true, { ev = true }))
    assert.same({ "enabled", true },
      { account().settings.stormGuardState, account().settings.evseStormEnabled })
    local put = sim:requests_matching("PUT", "/stormGuard/toggle/")[1]
    assert.same({ stormGuardState = "enabled", evseStormEnabled = true }, json.decode(put.body))
    assert.equal("userId=" .. H.USER_ID .. "&source=enho", put.query)
    assert.is_true(client:set_storm_guard(false))
    assert.same({ "disabled", true },
      { account().settings.stormGuardState, account().settings.evseStormEnabled })
    local t = client:storm_guard()
    assert.same({ false, true }, { t.enabled, t.ev })
  end)

  it("reports a toggle the server ignored as not_applied", function()
    local client = H.new(sim)
    assert(client:status())
    sim:fault({ match = "/stormGuard/toggle/", method = "PUT", action = "body",
                body = '{"message":"success"}', status = 200 })
    local ok, err, kind = client:set_storm_guard(true, { ev = false })
    assert.is_nil(ok)
    assert.equal("not_applied", kind)
    assert.matches("not applied", err)
  end)

  it("opts out of an alert by id, and refuses an unknown one without a write", function()
    local client = H.new(sim)
    sim:storm_alert({ id = "a-42", name = "High Wind Warning" })
    assert.is_true(client:opt_out_storm_alert("a-42"))
    local put = sim:requests_matching("PUT", "/stormAlert")[1]
    assert.same({ stormAlerts = { { id = "a-42", name = "High Wind Warning", status = "opted-out" } } },
      json.decode(put.body))
    assert.equal("opted-out", account().storm_alerts[1].status)
    local ok, err, kind = client:opt_out_storm_alert("nope")
    assert.is_nil(ok)
    assert.equal("input", kind)
    assert.matches("no storm alert with id nope (listed: a-42)", err, 1, true)
    assert.equal(1, #sim:requests_matching("PUT", "/stormAlert"))
  end)

  it("checks every input before sending anything", function()
    local client = H.new(sim)
    local cases = {
      { "set_storm_guard", { "yes" }, "on must be true or false" },
      { "set_storm_guard", { true, { ev = "on" } }, "ev must be true or false" },
      { "set_storm_guard", { true, { evse = true } }, "unknown option evse" },
      { "set_storm_guard", { true, "ev" }, "options must be a table" },
      { "opt_out_storm_alert", { "" }, "id must be a storm alert id" },
      { "opt_out_storm_alert", { "a b" }, "id must be a storm alert id" },
      { "opt_out_storm_alert", { ("x"):rep(200) }, "id must be a storm alert id" },
      { "opt_out_storm_alert", { {} }, "id must be a storm alert id" },
    }
    for _, c in ipairs(cases) do
      local ok, err, kind = client[c[1]](client, table.unpack(c[2]))
      assert.is_nil(ok)
      assert.equal("input", kind, err)
      assert.matches(c[3], err, 1, true)
    end
    assert.equal(0, #sim:log())
  end)

  it("refuses malformed toggles and opt-outs in the simulator", function()
    local t = assert(sim:tokens())
    local path = ("/stormGuard/toggle/%d?userId=%d&source=enho"):format(t.site_id, t.user_id)
    assert.equal(400, sim:bc(t, "PUT", path, { stormGuardState = "on" }).status)
    assert.equal(400, sim:bc(t, "PUT", path, { stormGuardState = "enabled", evseStormEnabled = 1 })
      .status)
    local alerts = ("/stormGuard/%d/stormAlert"):format(t.site_id)
    assert.equal(400, sim:bc(t, "PUT", alerts, { stormAlerts = {} }).status)
    assert.equal(404, sim:bc(t, "PUT", alerts,
      { stormAlerts = { { id = "x", name = "y", status = "opted-out" } } }).status)
    assert.equal(401, sim:bc({ jwt = "bad", user_id = t.user_id }, "GET", alerts).status)
  end)

  describe("on the command line", function()
    local dir, env

    before_each(function()
      dir = procs.tmpdir()
      env = { ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD,
              ENPHASE_BASE_URL = sim.base_url, ENPHASE_TOKEN_CACHE = dir .. "/s.json" }
    end)

    after_each(function()
      procs.rmdir(dir)
    end)

    it("shows, sets, lists and opts out, with --json", function()
      sim:storm_alert({ id = "a-7", name = "Tornado Watch" })
      local r = procs.run(dir, env, { "stormguard" })
      assert.equal(0, r.code, r.err)
      assert.matches("storm guard:%s+off", r.out)
      assert.matches("a%-7%s+Tornado Watch%s+active", r.out)
      r = procs.run(dir, env, { "stormguard", "on", "--ev", "on" })
      assert.equal(0, r.code, r.err)
      assert.equal("storm guard on\n", r.out)
      r = procs.run(dir, env, { "stormguard", "--json" })
      local t = json.decode(r.out)
      assert.same({ true, true, true }, { t.enabled, t.ev, t.active })
      assert.equal("a-7", t.alerts[1].id)
      r = procs.run(dir, env, { "stormguard", "optout", "a-7" })
      assert.equal(0, r.code, r.err)
      r = procs.run(dir, env, { "stormguard", "alerts", "--json" })
      assert.equal("opted-out", json.decode(r.out).alerts[1].status)
    end)

    it("prints the plan with --dry-run and sends nothing", function()
      local r = procs.run(dir, env, { "stormguard", "off", "--ev", "off", "--dry-run" })
      assert.equal(0, r.code, r.err)
      assert.matches("1. PUT " .. sim.base_url .. BC .. "/stormGuard/toggle/<site>?userId=<user>"
        .. "&source=enho", r.out, 1, true)
      assert.matches('body: {"stormGuardState":"disabled","evseStormEnabled":false}', r.out, 1, true)
      r = procs.run(dir, env, { "stormguard", "optout", "a-1", "--dry-run" })
      assert.equal(0, r.code, r.err)
      assert.matches('"status":"opted-out"', r.out, 1, true)
      assert.equal(0, #sim:log())
    end)

    it("refuses bad words and options with exit 2, sending nothing", function()
      for _, argv in ipairs({ { "stormguard", "maybe" }, { "stormguard", "on", "--ev", "yes" },
                              { "stormguard", "optout" }, { "stormguard", "optout", "a b" },
                              { "stormguard", "alerts", "--ev", "on" },
                              { "stormguard", "--dry-run" } }) do
        local r = procs.run(dir, env, argv)
        assert.equal(2, r.code, table.concat(argv, " ") .. ": " .. r.err)
      end
      assert.equal(0, #sim:log())
    end)
  end)
end)
