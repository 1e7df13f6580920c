-- examples/domoticz/enphase_battery.lua run by Domoticz's real dzVents
-- runtime (lua5.3, loaded from ../shared/hosts/dzvents/runtime), its shell
-- commands run like Domoticz runs them (/bin/sh -c, stdout and stderr
-- captured, SIGKILL at the timeout, exit status) against the simulator.
local simulator = require("helpers.sim")
local domoticz = require("helpers.domoticz")
local H = require("helpers.client")
local fixture = require("helpers.fixture")
local procs = require("helpers.procs")

local SCRIPT = "examples/domoticz/enphase_battery.lua"
local CFG, DTG, RBD, TEXT = "Enphase CFG", "Enphase DTG", "Enphase RBD", "Enphase battery"

local logins, battery, app_sets = fixture.logins, fixture.battery, fixture.app_sets

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
    fixture.write_config(config, sim, { password = opts.password, base_url = opts.base_url,
      cache = not opts.no_cache and host.dir .. "session.json" or nil })
  end

  -- A host with the three switches (all Off), the text device, the two user
  -- variables and a private config file for the simulator. opts: password,
  -- base_url, no_cache (no ENPHASE_TOKEN_CACHE in the config), edits,
  -- keep_poll (the script's own poll interval), command (false: no
  -- enphase_command variable), env, missing (a device name not to create).
  local function new_host(opts)
    opts = opts or {}
    host = domoticz.new()
    host.env = opts.env
    -- the user's settings: a poll on every timer event (each minute)
    local edits = opts.keep_poll and {} or { ["local POLL = 300"] = "local POLL = 0" }
    for k, v in pairs(opts.edits or {}) do
      edits[k] = v
    end
    host:install(SCRIPT, edits)
    for _, name in ipairs({ CFG, DTG, RBD }) do
      if name ~= opts.missing then
        host:switch(name, "Off")
      end
    end
    if opts.missing ~= TEXT then
      host:text(TEXT, "")
    end
    config = host.dir .. "enphase.conf"
    write_config(opts)
    if opts.command ~= false then
      host:variable("enphase_command", opts.command or simulator.shell_quote(simulator.ROOT
        .. "/bin/enphase"))
    end
    host:variable("enphase_config", config)
    return host
  end

  -- The script's saved data (dzVents' data file), and a rewrite of it.
  local function data_file()
    return host.dir .. "data/__data_enphase_battery.lua"
  end

  local function edit_data(pattern, replacement)
    local f = assert(io.open(data_file()))
    local data = f:read("a")
    f:close()
    local edited, n = data:gsub(pattern, replacement, 1)
    assert(n == 1, data)
    f = assert(io.open(data_file(), "w"))
    f:write(edited)
    f:close()
    return data
  end

  local function count_lines(text)
    local n = 0
    for _, line in ipairs(host.log) do
      if line:find(text, 1, true) then
        n = n + 1
      end
    end
    return n
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
    assert.truthy(find_line(host.log, "cfg: a call is still running; on follows when it answers"))
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

  it("lets the last flip win: a flip during its switch's call is sent once that call answers",
    function()
      new_host()
      host:flip(DTG, "On")
      host:run_commands()
      assert.is_true(battery(sim).dtg)
      -- Off, then On 0.3 s later: the Off call is still running
      host:flip(DTG, "Off")
      host:flip(DTG, "On")
      assert.equal(1, #host.commands)
      assert.truthy(host.commands[1].command:find(" dtg off ", 1, true))
      host:run_commands()
      -- the Off call answered; the last flip wants On: one more call
      assert.is_false(battery(sim).dtg)
      assert.equal(1, #host.commands)
      assert.truthy(host.commands[1].command:find(" dtg on ", 1, true), host.commands[1].command)
      assert.equal("On", host:state(DTG), "the switch keeps showing the last flip")
      host:run_commands()
      assert.is_true(battery(sim).dtg)
      assert.equal("On", host:state(DTG))
      assert.equal(0, #host.commands, "no further call: the battery is where the flip wants it")
      -- flips that end where the call in flight goes cost no extra call
      host:flip(DTG, "Off")
      host:flip(DTG, "On")
      host:flip(DTG, "Off")
      host:run_commands()
      assert.equal(0, #host.commands)
      assert.is_false(battery(sim).dtg)
      assert.equal("Off", host:state(DTG))
      assert.same({}, host.triggered)
      assert.same({}, host:errors())
    end)

  it("logs a missing device once and lets the switches work without it", function()
    new_host({ missing = TEXT })
    host:timer()
    host:run_commands()
    host:flip(CFG, "On")
    host:run_commands()
    assert.is_true(battery(sim).cfg)
    assert.equal("On", host:state(CFG))
    host:flip(CFG, "Off")
    assert.equal(1, #host.commands, "the switch is not left busy")
    host:run_commands()
    assert.is_false(battery(sim).cfg)
    host:timer()
    host:run_commands()
    assert.equal(1, count_lines('no Text device named "Enphase battery"'), table.concat(host.log, "\n"))
    assert.equal(0, count_lines("script error"))
    assert.equal(1, #host:errors(), table.concat(host:errors(), "\n"))
  end)

  it("logs a missing switch once; the other switches follow the battery", function()
    app_sets(sim, "dtg", { dtgControl = { enabled = true } })
    new_host({ missing = RBD })
    host:timer()
    host:run_commands()
    host:timer()
    host:run_commands()
    assert.equal("On", host:state(DTG))
    assert.equal(1, count_lines('no On/Off switch device named "Enphase RBD"'))
    assert.truthy(host:text_of(TEXT):find("DTG on, RBD off", 1, true), host:text_of(TEXT))
  end)

  it("never leaves a job busy after a run that raised (dzVents keeps no data of it)", function()
    -- a bug anywhere in a response's handling, here in the status text
    new_host({ edits = { ["local function show_status(dz, problem)\n"] =
      "local function show_status(dz, problem)\n  error(\"a bug\")\n" } })
    host:flip(CFG, "On")
    host:run_commands()
    assert.is_true(battery(sim).cfg)
    assert.equal(1, count_lines("script error (the busy state is kept)"))
    host:flip(CFG, "Off")
    assert.equal(1, #host.commands, "the flip after the failed run starts its call")
    host:run_commands()
    assert.is_false(battery(sim).cfg)
  end)

  it("is not fooled by a clock set back: no job stays busy, the poll goes on", function()
    new_host({ keep_poll = true })
    host:flip(CFG, "On")
    host.commands = {} -- the answer is lost ...
    -- ... and the clock goes back an hour: the call seems to start in the future
    edit_data('%["cfg"%] = (%d+);', function(stamp)
      return ('["cfg"] = %d;'):format(tonumber(stamp) + 3600)
    end)
    host:flip(CFG, "Off")
    assert.equal(1, #host.commands)
    host:run_commands()
    assert.is_false(battery(sim).cfg)
    -- the last poll in the future: the next timer polls
    host:timer()
    assert.equal(3, #host.commands)
    host:run_commands()
    edit_data("%[\"polled_at\"%] = (%d+);", function(stamp)
      return ('["polled_at"] = %d;'):format(tonumber(stamp) + 3600)
    end)
    host:timer()
    assert.equal(3, #host.commands)
  end)

  it("polls on the first minute after it is installed, then every POLL seconds", function()
    new_host({ keep_poll = true })
    host:timer() -- a script copied into a running Domoticz: no start event
    assert.equal(3, #host.commands)
    host:run_commands()
    assert.truthy(host:text_of(TEXT):find("^SoC %d+%%, CFG off"), host:text_of(TEXT))
    host:timer()
    assert.equal(0, #host.commands, "the next minute: no poll")
    edit_data("%[\"polled_at\"%] = (%d+);", function(stamp)
      return ('["polled_at"] = %d;'):format(tonumber(stamp) - 300)
    end)
    host:timer()
    assert.equal(3, #host.commands, "five minutes later")
    host:run_commands()
    host:start() -- Domoticz starting: a poll at once
    assert.equal(3, #host.commands)
  end)

  it("runs the command where the install put it when no enphase_command is set", function()
    local bin = procs.tmpdir("dzbin")
    procs.spit(bin .. "/enphase", "#!/bin/sh\nexec " .. simulator.shell_quote(simulator.ROOT
      .. "/bin/enphase") .. ' "$@"\n')
    os.execute("chmod 755 " .. simulator.shell_quote(bin .. "/enphase"))
    new_host({ command = false, edits = {
      ['local COMMANDS = { "/usr/bin/enphase", "/usr/local/bin/enphase" }'] =
        ("local COMMANDS = { %q, %q }"):format(bin .. "/none/enphase", bin .. "/enphase") } })
    host:flip(RBD, "On")
    assert.truthy(host.commands[1].command:find(bin .. "/enphase' rbd on", 1, true),
      host.commands[1].command)
    host:run_commands()
    assert.is_true(battery(sim).rbd)
    assert.same({}, host:errors())
    procs.rmdir(bin)
  end)

  it("without HOME: says so loudly, and keeps a cache and its guard in the data folder",
    function()
      new_host({ env = "env -u HOME -u XDG_CACHE_HOME ", no_cache = true,
        password = "not-the-password" })
      for _ = 1, 3 do
        host:timer()
        for _, c in ipairs(host.commands) do
          local prefix = "ENPHASE_TOKEN_CACHE='" .. host.dir .. "data/enphase-session.json' "
          assert.equal(prefix, c.command:sub(1, #prefix))
        end
        host:run_commands()
      end
      assert.equal(1, logins(sim), "one refused login in three polls of three calls each")
      assert.equal(1, count_lines("Domoticz runs without HOME"))
      assert.truthy(find_line(host:errors(), "reading the battery settings failed (auth)"))
      assert.truthy(find_line(host:errors(), "run `enphase login --config " .. config))
      for _, l in ipairs(host.log) do
        assert.falsy(l:find("not-the-password", 1, true))
      end
      host:start()
      assert.equal(2, count_lines("Domoticz runs without HOME"), "again after a restart")
    end)

  it("tries a new password at once after a wrong one (the guard refuses only the one that failed)",
    function()
      new_host({ env = "env -u HOME -u XDG_CACHE_HOME ", no_cache = true,
        password = "not-the-password" })
      host:timer()
      host:run_commands()
      assert.equal(1, logins(sim))
      assert.truthy(find_line(host:errors(), "reading the battery settings failed (auth)"))
      -- the user fixes the config file: the next poll logs in with it, no wait
      write_config({ no_cache = true })
      host:timer()
      host:run_commands()
      assert.equal(2, logins(sim))
      assert.truthy(host:text_of(TEXT):find("^SoC %d+%%, CFG off"), host:text_of(TEXT))
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
        -- the command's virtual clock: its retry back-off (3 attempts a
        -- request, about 2 s of waits) moves it instead of passing
        new_host({ env = "ENPHASE_TEST_CLOCK_OFFSET=0 " })
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
