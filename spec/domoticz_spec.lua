-- examples/domoticz/enphase_battery.lua run by Domoticz's real dzVents
-- runtime (lua5.3, loaded from ../shared/hosts/dzvents/runtime), its shell
-- commands run like Domoticz runs them (/bin/sh -c, stdout and stderr
-- captured, SIGKILL at the timeout, exit status) against the simulator.
local simulator = require("helpers.sim")
local domoticz = require("helpers.domoticz")
local H = require("helpers.client")

local SCRIPT = "examples/domoticz/enphase_battery.lua"
local CFG, DTG, RBD, TEXT = "Enphase CFG", "Enphase DTG", "Enphase RBD", "Enphase battery"

local function logins(sim)
  return #sim:requests_matching("POST", "/login/login")
end

local function battery(sim)
  local s = sim:state().accounts[1].settings
  return { cfg = s.chargeFromGrid, dtg = s.dtgControl.enabled, rbd = s.rbdControl.enabled }
end

-- The Enphase app changes a setting straight on the server (isValid, PUT).
local function app_sets(sim, kind, body)
  local t = assert(sim:tokens())
  sim:bc(t, "POST", ("/battery/sites/%d/schedules/isValid"):format(t.site_id), { scheduleType = kind })
  local res = sim:bc(t, "PUT", ("/batterySettings/%d?userId=%d&source=enho"):format(t.site_id,
    t.user_id), body)
  assert.equal(200, res.status, res.body)
  return t
end

local function find_line(lines, text)
  for _, line in ipairs(lines) do
    if line:find(text, 1, true) then
      return line
    end
  end
  return nil
end

describe("the Domoticz script on the real dzVents runtime", function()
  local sim = simulator.for_file(_ENV)
  local host, config

  local function write_config(opts)
    local f = assert(io.open(config, "w"))
    f:write("ENPHASE_EMAIL=", H.EMAIL, "\n", "ENPHASE_PASSWORD=", opts.password or H.PASSWORD, "\n",
      "ENPHASE_BASE_URL=", opts.base_url or sim.base_url, "\n",
      "ENPHASE_TOKEN_CACHE=", host.dir, "session.json\n")
    f:close()
    os.execute("chmod 600 " .. simulator.shell_quote(config))
  end

  -- A host with the three switches (all Off), the text device, the two user
  -- variables and a private config file for the simulator.
  local function new_host(opts)
    opts = opts or {}
    host = domoticz.new()
    -- the user's settings: a poll on every timer event (each minute), so that
    -- the spec's timer events need no particular clock time
    local edits = { ['local POLL = "every 5 minutes"'] = 'local POLL = "every minute"' }
    for k, v in pairs(opts.edits or {}) do
      edits[k] = v
    end
    host:install(SCRIPT, edits)
    for _, name in ipairs({ CFG, DTG, RBD }) do
      host:switch(name, "Off")
    end
    host:text(TEXT, "")
    config = host.dir .. "enphase.conf"
    write_config(opts)
    host:variable("enphase_command", opts.command or simulator.shell_quote(simulator.ROOT
      .. "/bin/enphase"))
    host:variable("enphase_config", config)
    return host
  end

  setup(function()
    local missing = domoticz.missing()
    assert(not missing, missing)
  end)

  after_each(function()
    if host then
      host:close()
      host = nil
    end
  end)

  it("polls on its timer: switches and the text device show the battery", function()
    app_sets(sim, "dtg", { dtgControl = { enabled = true } })
    sim:clear_log()
    new_host()
    local ca = host:timer()
    assert.equal(3, #host.commands, "reads of the settings, the schedules and the charge")
    assert.equal(0, #sim:log(), "the event run itself sends nothing")
    for _, c in ipairs(host.commands) do
      assert.truthy(c.command:find(" --json --config ", 1, true), c.command)
      assert.equal(60, c.timeout)
      assert.falsy(c.command:find(H.PASSWORD, 1, true))
    end
    assert.equal(3, #ca)
    host:run_commands()
    assert.equal("Off", host:state(CFG))
    assert.equal("On", host:state(DTG))
    assert.equal("Off", host:state(RBD))
    local soc = tonumber(host:text_of(TEXT):match("^SoC (%d+)%%, CFG off, DTG on, RBD off; "
      .. "self%-consumption, reserve 20%%; next: none$"))
    assert.truthy(soc, host:text_of(TEXT))
    local reading = require("cjson").decode(host.results[3].data)
    assert.equal("enphase_battery", host.results[3].callback)
    assert.equal(math.floor(reading.soc + 0.5), soc)
    assert.same({}, host.triggered)
    assert.same({}, host:errors())
  end)

  it("turns CFG on from its switch, the event thread never waits, the cache saves every login",
    function()
      new_host()
      host:timer()
      host:run_commands()
      assert.equal(1, logins(sim))
      local before = #sim:log()
      host:flip(CFG, "On")
      assert.equal(before, #sim:log(), "nothing sent during the event run")
      assert.equal(1, #host.commands)
      local request = host.commands[1]
      assert.equal("enphase_cfg", request.callback)
      assert.truthy(request.command:find(" cfg on --json ", 1, true), request.command)
      local ca, responses = host:run_commands()
      assert.equal(0, responses[1].statusCode, responses[1].errorText)
      assert.same({ charge_from_grid = true }, require("cjson").decode(responses[1].data))
      assert.is_true(battery(sim).cfg)
      assert.equal("On", host:state(CFG))
      assert.equal(1, logins(sim), "a toggle with a warm cache logs in 0 times")
      -- the switch was already On: the response sends no switch command back
      for _, entry in ipairs(ca) do
        assert.is_nil(entry[CFG])
      end
      assert.truthy(host:text_of(TEXT):find("CFG on,", 1, true), host:text_of(TEXT))
      -- and off again
      host:flip(CFG, "Off")
      host:run_commands()
      assert.is_false(battery(sim).cfg)
      assert.equal("Off", host:state(CFG))
      assert.equal(1, logins(sim))
      assert.same({}, host.triggered)
      assert.same({}, host:errors())
    end)

  it("shows a change made elsewhere (the Enphase app) within one poll", function()
    new_host()
    host:timer()
    host:run_commands()
    assert.equal("Off", host:state(RBD))
    -- the app: RBD on and a CFG schedule, straight on the server
    local t = app_sets(sim, "rbd", { rbdControl = { enabled = true } })
    local res = sim:bc(t, "POST", ("/battery/sites/%d/schedules"):format(t.site_id), { timezone =
      "Europe/London", startTime = "02:00", endTime = "05:00", limit = 100, scheduleType = "CFG",
      days = { 1, 2, 3, 4, 5, 6, 7 } })
    assert.equal(200, res.status, res.body)
    host:timer()
    host:run_commands()
    assert.equal("On", host:state(RBD))
    assert.equal("Off", host:state(CFG))
    assert.truthy(host:text_of(TEXT):find("RBD on; self-consumption, reserve 20%; next: CFG "
      .. "02:00-05:00 ", 1, true), host:text_of(TEXT))
    assert.same({}, host.triggered)
  end)

  it("starts no second call for a job while one is in flight", function()
    new_host()
    host:flip(CFG, "On")
    host:flip(CFG, "Off")
    host:flip(CFG, "On")
    host:timer()
    host:timer()
    -- one cfg call, one settings read, one schedules read; DTG is another job
    host:flip(DTG, "On")
    local jobs = {}
    for _, c in ipairs(host.commands) do
      jobs[#jobs + 1] = c.callback
    end
    assert.same({ "enphase_cfg", "enphase_settings", "enphase_schedules", "enphase_battery",
                  "enphase_dtg" }, jobs)
    assert.truthy(find_line(host.log, "cfg: the previous call is still running"))
    assert.truthy(find_line(host.log, "settings: the previous call is still running"))
    local ca = host:run_commands()
    -- the settings read ran before the toggles, yet never put the switches back
    for _, entry in ipairs(ca) do
      assert.is_nil(entry[CFG])
      assert.is_nil(entry[DTG])
    end
    assert.same({ cfg = true, dtg = true, rbd = false }, battery(sim))
    assert.equal("On", host:state(CFG))
    assert.equal("On", host:state(DTG))
    -- all answered: the next flip starts a call again
    host:flip(CFG, "Off")
    assert.equal(1, #host.commands)
    assert.same({}, host:errors())
  end)

  it("starts again once a call's answer is overdue (lost across a Domoticz restart)", function()
    new_host()
    host:flip(CFG, "On")
    assert.equal(1, #host.commands)
    host.commands = {} -- Domoticz restarted: this call's answer never comes
    host:flip(CFG, "Off")
    host:flip(CFG, "On")
    assert.equal(0, #host.commands)
    -- the script's own record, as if the call began TIMEOUT + 30 s ago
    local path = host.dir .. "data/__data_enphase_battery.lua"
    local f = assert(io.open(path))
    local data = f:read("a")
    f:close()
    local stamp = tonumber(data:match('%["cfg"%] = (%d+);'))
    assert.truthy(stamp, data)
    f = assert(io.open(path, "w"))
    f:write((data:gsub('%["cfg"%] = %d+;', ('["cfg"] = %d;'):format(stamp - 90), 1)))
    f:close()
    host:flip(CFG, "On")
    assert.equal(1, #host.commands)
    host:run_commands()
    assert.is_true(battery(sim).cfg)
    assert.equal("On", host:state(CFG))
  end)

  describe("failures: logged with their kind, and the switch goes back to the battery's state",
    function()
      it("a wrong password (auth)", function()
        new_host({ password = "not-the-password" })
        host:flip(CFG, "On")
        local _, responses = host:run_commands()
        assert.equal(1, responses[1].statusCode)
        local line = find_line(host:errors(), "cfg on failed (auth)")
        assert.truthy(line, table.concat(host.log, "\n"))
        assert.falsy(line:find("not-the-password", 1, true))
        assert.equal("Off", host:state(CFG))
        assert.is_false(battery(sim).cfg)
        -- a read of the real state was started; it fails the same way and says so
        assert.equal(3, #host.commands)
        host:run_commands()
        assert.truthy(find_line(host:errors(), "reading the battery settings failed (auth)"))
        assert.truthy(host:text_of(TEXT):find("(read failed: auth)", 1, true), host:text_of(TEXT))
        assert.equal("Off", host:state(CFG))
        for _, l in ipairs(host.log) do
          assert.falsy(l:find("not-the-password", 1, true))
        end
        assert.same({}, host.triggered)
      end)

      it("the network down (network), and back on the next poll", function()
        new_host()
        host:timer()
        host:run_commands()
        assert.equal("Off", host:state(DTG))
        -- the network goes: nothing answers at the server's address
        write_config({ base_url = "http://127.0.0.1:1" })
        host:flip(DTG, "On")
        local _, responses = host:run_commands()
        assert.equal(1, responses[1].statusCode)
        assert.truthy(find_line(host:errors(), "dtg on failed (network)"), table.concat(host.log, "\n"))
        assert.equal("Off", host:state(DTG))
        host:run_commands() -- the read after the failure fails too
        assert.truthy(host:text_of(TEXT):find("(read failed: network)", 1, true))
        write_config({})
        host:timer()
        host:run_commands()
        assert.equal("Off", host:state(DTG))
        assert.truthy(host:text_of(TEXT):find("^SoC %d+%%, CFG off, DTG off, RBD off; "
          .. "self%-consumption"), host:text_of(TEXT))
      end)

      it("no answer (timeout): Domoticz kills the call at the script's timeout", function()
        new_host({ edits = { ["local TIMEOUT = 60"] = "local TIMEOUT = 3" } })
        host:switch("spare", "Off")
        host:timer()
        host:run_commands()
        assert.equal("Off", host:state(RBD))
        sim:fault({ match = "batterySettings", method = "PUT", action = "hang", count = 1 })
        host:flip(RBD, "On")
        assert.equal(3, host.commands[1].timeout)
        local _, responses = host:run_commands()
        assert.is_true(responses[1].timeoutOccurred)
        assert.truthy(responses[1].seconds <= 6, responses[1].seconds)
        assert.truthy(find_line(host:errors(), "rbd on failed (timeout)"), table.concat(host.log, "\n"))
        assert.equal("Off", host:state(RBD))
        host:run_commands()
        assert.equal("Off", host:state(RBD))
        assert.is_false(battery(sim).rbd)
      end)

      it("a command that cannot run (setup)", function()
        new_host({ command = "/nonexistent/enphase" })
        host:flip(DTG, "On")
        host:run_commands()
        assert.truthy(find_line(host:errors(), "dtg on failed (setup)"), table.concat(host.log, "\n"))
        assert.equal("Off", host:state(DTG))
        assert.equal(0, #sim:log())
      end)
    end)
end)
