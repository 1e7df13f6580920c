-- examples/openluup/ (the openLuup plugin) on the real openLuup runtime
-- (../shared/hosts/openluup), under lua5.1 and under luajit, against the
-- simulator: the plugin's `enphase` command runs in the background under the
-- Lua under test, while openLuup runs under 5.1 or LuaJIT.
-- What openLuup runs does not depend on the Lua busted runs under, so the
-- whole set runs once, when busted runs under Lua 5.4; under another Lua
-- only the checks marked `every_lua` run (openLuup starts, a switch reaches
-- the battery through the CLI under that Lua), which keeps CI's time for
-- four Luas modest.
local simulator = require("helpers.sim")
local openluup = require("helpers.openluup")
local procs = require("helpers.procs")
local child = require("helpers.child")
local socket = require("socket")
local fixture = require("helpers.fixture")

local SID = "urn:lua-enphase:serviceId:EnphaseBattery1"
local SWP = "urn:upnp-org:serviceId:SwitchPower1"
local GATEWAY = "urn:micasaverde-com:serviceId:HomeAutomationGateway1"
local FILES = { "examples/openluup/D_EnphaseBattery1.xml", "examples/openluup/I_EnphaseBattery1.xml",
  "examples/openluup/S_EnphaseBattery1.xml", "examples/openluup/L_EnphaseBattery1.lua" }

local logins, battery, app_sets = fixture.logins, fixture.battery, fixture.app_sets

local FULL = _VERSION == "Lua 5.4"

local function count(text, plain)
  local n, at = 0, 1
  while true do
    local s, e = text:find(plain, at, true)
    if not s then
      return n
    end
    n, at = n + 1, e + 1
  end
end

describe("the openLuup plugin on the real openLuup runtime", function()
  local sim = simulator.for_file(_ENV)

  for _, case in ipairs({ { lua = "lua5.1", folder = "cmh-lu", says = "Lua 5.1" },
                          { lua = "luajit", folder = "cmh-ludl", says = "LuaJIT 2.1" } }) do
    describe("under " .. case.lua .. " (plugin files in " .. case.folder .. "/)", function()
      local box, priv, parent, kids, cli

      -- the config file: the simulator, a private token cache
      local function write_config(opts)
        opts = opts or {}
        fixture.write_config(priv .. "/enphase.conf", sim, { password = opts.password,
          base_url = opts.base_url, cache = priv .. "/" .. (opts.cache or "session.json") })
      end

      -- The command the plugin runs (its Command variable): the CLI under the
      -- Lua under test, by its absolute path. `virtual_waits`: on the CLI's
      -- test clock, whose waits (the retry back-off) move it instead of passing.
      local function write_command(virtual_waits)
        procs.spit(priv .. "/enphase", "#!/bin/sh\n"
          .. (virtual_waits and "export ENPHASE_TEST_CLOCK_OFFSET=0\n" or "")
          .. "exec " .. child.lua .. " " .. simulator.shell_quote(cli) .. ' "$@"\n', "755")
      end

      local function status(kind)
        return box:var(kids[kind], SWP, "Status")
      end

      local function idle()
        return box:var(parent, SID, "Pending") == ""
      end

      -- The job `name` ("cfg", "dtg", "rbd" or "poll") as Pending lists it:
      -- the path of its background script, which the script removes as it
      -- ends (so while the file is there, the job runs). nil when not listed.
      local function job_script(name)
        for entry in box:var(parent, SID, "Pending"):gmatch("[^;]+") do
          local job, script = entry:match("^(%S+) %S+ %d+ (%S+)$")
          if job == name then
            return script
          end
        end
        return nil
      end

      local function running(script)
        return script ~= nil and procs.slurp(script) ~= nil
      end

      -- openLuup answers while the job `name` waits on the simulator, which
      -- holds its `method` request's answer back for seconds (a fault staged
      -- before): id=alive answers, and the job still runs after. No
      -- threshold in seconds (on a loaded machine even an idle openLuup's
      -- answer, through curl, took more than 0.5 s): the order of events is
      -- the point. An openLuup that waited on the job could answer only once
      -- it had ended.
      local function answers_during(name, method, path_part, seen)
        local script = box:wait(function()
          return job_script(name)
        end, 30, name .. " to start")
        box:wait(function()
          return #sim:requests_matching(method, path_part) > seen
        end, 30, name .. "'s " .. method .. " to reach the simulator")
        local t0 = socket.gettime()
        assert.equal("OK", box:get("id=alive"))
        assert.is_true(running(script), ("openLuup answered only after %s had ended (%.2f s "
          .. "after its %s reached the simulator)"):format(name, socket.gettime() - t0, method))
      end

      local function set_target(kind, value)
        local answer = box:action(kids[kind], SWP, "SetTarget", { newTargetValue = value })
        assert.truthy(answer:find('"OK"', 1, true), answer)
      end

      -- a poll that has finished (the battery's state is on the switches)
      local function poll()
        box:wait(idle, 30, "the calls in flight")
        box:set_var(parent, SID, "Budget", "")
        assert.truthy(box:action(parent, SID, "Poll"):find("OK", 1, true))
        box:wait(function()
          return idle() and box:var(parent, SID, "Budget") ~= ""
        end, 30, "a poll")
      end

      local function find_children()
        local found = {}
        for n, d in pairs(box:devices()) do
          if d.parent == parent then
            found[d.altid] = n
          end
        end
        return found
      end

      setup(function()
        local missing = openluup.missing(case.lua)
        assert(not missing, missing)
        priv = fixture.scratch("openluup-priv")
        -- openLuup's folder is not the checkout: the CLI by its absolute path
        local root = simulator.ROOT:sub(1, 1) == "/" and simulator.ROOT
          or (procs.capture("pwd"):gsub("%s+$", "") .. "/" .. simulator.ROOT)
        cli = root .. "/bin/enphase"
        write_command()
        write_config()
        box = openluup.start({ lua = case.lua, files = FILES, folder = case.folder })
        -- the README's install step: CreateDevice through the HTTP API
        local vars = table.concat({ SID .. ",Config=" .. priv .. "/enphase.conf",
          SID .. ",Command=" .. priv .. "/enphase", SID .. ",PollInterval=3600" }, "\n")
        local answer = box:action(0, GATEWAY, "CreateDevice", {
          deviceType = "urn:schemas-lua-enphase:device:EnphaseBattery:1",
          Description = "Enphase battery", UpnpDevFilename = "D_EnphaseBattery1.xml",
          UpnpImplFilename = "I_EnphaseBattery1.xml", StateVariables = vars })
        parent = tonumber(answer:match('"DeviceNum":%s*"(%d+)"'))
        assert(parent, answer)
        -- its first start creates the three switches, and openLuup reloads
        kids = box:wait(function()
          local found = find_children()
          return found.cfg and found.dtg and found.rbd and found
        end, 30, "the child switches")
        box:wait_alive()
      end)

      -- a check of the whole set (under Lua 5.4), or of every Lua
      local function check(name, fn)
        if FULL then
          it(name, fn)
        end
      end
      local every_lua = it

      teardown(function()
        if box then
          box:stop()
        end
        if priv then
          procs.rmdir(priv)
        end
      end)

      before_each(function()
        write_command()
        write_config()
        box:set_var(parent, SID, "Timeout", "60")
        poll()
      end)

      every_lua("runs under " .. case.says .. " and makes the switches, named with CFG, DTG and RBD",
        function()
          assert.truthy(box:log():find("EnphaseBattery%[" .. parent .. "%]: started under "
            .. case.says:gsub("%.", "%%.")), box:log():sub(-2000))
          local devices = box:devices()
          assert.equal("Enphase CFG", devices[kids.cfg].name)
          assert.equal("Enphase DTG", devices[kids.dtg].name)
          assert.equal("Enphase RBD", devices[kids.rbd].name)
          assert.equal("self-consumption", box:var(parent, SID, "Profile"))
          assert.equal("20", box:var(parent, SID, "Reserve"))
          assert.truthy(tonumber(box:var(parent, SID, "SoC")))
          assert.equal("", box:var(parent, SID, "LastError"))
        end)

      every_lua("SetTarget reaches the battery and Status follows; openLuup never waits; no login while "
        .. "warm", function()
        local before = logins(sim)
        -- the call runs (isValid, 1 s, PUT) and the simulator answers its
        -- PUT 3 s late: the call is in flight for that long at least,
        -- however loaded the machine, and openLuup answers meanwhile
        local puts = #sim:requests_matching("PUT", "/batterySettings/")
        sim:fault({ match = "batterySettings", method = "PUT", delay = 3, count = 1 })
        set_target("cfg", "1")
        assert.is_true(running(job_script("cfg")), "SetTarget answered only after the call")
        assert.equal("1", box:var(kids.cfg, SWP, "Target"), "Target at once")
        assert.equal("0", status("cfg"), "Status only once the battery answered")
        answers_during("cfg", "PUT", "/batterySettings/", puts)
        box:wait(function()
          return status("cfg") == "1"
        end, 30, "CFG's Status")
        assert.is_true(battery(sim).cfg)
        set_target("cfg", "0")
        box:wait(function()
          return status("cfg") == "0"
        end, 20, "CFG's Status")
        assert.is_false(battery(sim).cfg)
        assert.equal(before, logins(sim), "the token cache saves every login")
        assert.equal("", box:var(parent, SID, "LastError"))
      end)

      check("shows a change made in the app after a poll", function()
        local t = app_sets(sim, "dtg", { dtgControl = { enabled = true } })
        local res = sim:bc(t, "POST", ("/battery/sites/%d/schedules"):format(t.site_id), {
          timezone = "Europe/London", startTime = "02:00", endTime = "05:00", limit = 100,
          scheduleType = "CFG", days = { 1, 2, 3, 4, 5, 6, 7 } })
        assert.equal(200, res.status, res.body)
        assert.equal("0", status("dtg"))
        poll()
        assert.equal("1", status("dtg"))
        assert.equal("1", box:var(kids.dtg, SWP, "Target"))
        assert.truthy(box:var(parent, SID, "NextSchedule"):find("^CFG 02:00%-05:00 %a%a%a$"),
          box:var(parent, SID, "NextSchedule"))
        assert.truthy(box:var(parent, SID, "Budget"):find("^%d+/600 in 3600 s$"),
          box:var(parent, SID, "Budget"))
      end)

      check("lets the last flip win: Off then On 0.3 s later ends On", function()
        app_sets(sim, "dtg", { dtgControl = { enabled = true } })
        poll()
        assert.equal("1", status("dtg"))
        sim:clear_log()
        set_target("dtg", "0")
        require("socket").sleep(0.3)
        set_target("dtg", "1")
        box:wait(function()
          return idle() and status("dtg") == "1"
        end, 20, "DTG back on")
        assert.is_true(battery(sim).dtg)
        assert.equal(2, #sim:requests_matching("PUT", "/batterySettings/"), "Off, then On")
        assert.equal("1", box:var(kids.dtg, SWP, "Target"))
      end)

      check("a wrong password: LastError says auth and what to do; the switch goes back", function()
        write_config({ password = "not-the-password", cache = "other.json" })
        set_target("rbd", "1")
        box:wait(function()
          return idle() and box:var(parent, SID, "LastError"):find("(auth)", 1, true)
        end, 20, "the auth failure")
        local err = box:var(parent, SID, "LastError")
        assert.truthy(box:log():find("rbd on failed (auth)", 1, true), box:log():sub(-2000))
        assert.truthy(err:find("enphase login --config " .. priv .. "/enphase.conf", 1, true), err)
        assert.falsy(box:log():find("not-the-password", 1, true))
        assert.equal("0", status("rbd"))
        assert.equal("0", box:var(kids.rbd, SWP, "Target"))
        assert.is_false(battery(sim).rbd)
      end)

      check("the network down, then a timeout: LastError says which", function()
        -- every call fails after 3 attempts (a toggle: 9), on the test clock
        write_command(true)
        write_config({ base_url = "http://127.0.0.1:1", cache = "down.json" })
        set_target("cfg", "1")
        box:wait(function()
          return box:log():find("cfg on failed (network)", 1, true)
        end, 20, "the network failure")
        assert.equal("0", status("cfg"))
        assert.equal("0", box:var(kids.cfg, SWP, "Target"))
        -- the read after the failure stops at its first failure
        box:wait(function()
          return idle() and box:log():find("reading the settings failed (network)", 1, true)
        end, 20, "the read after the failure")
        write_config()
        box:set_var(parent, SID, "Timeout", "2")
        sim:fault({ match = "batterySettings", method = "PUT", delay = 3, count = 1 })
        -- the read after the timeout (the call killed before its own GET)
        -- gets its settings 3 s late: openLuup answers meanwhile. That read
        -- starts with the Timeout of its start: 60 s again (set while the
        -- call, started with 2 s, runs)
        local gets = #sim:requests_matching("GET", "/batterySettings/")
        sim:fault({ match = "batterySettings", method = "GET", delay = 3, count = 1 })
        set_target("cfg", "1")
        box:set_var(parent, SID, "Timeout", "60")
        box:wait(function()
          return box:log():find("cfg on failed (timeout)", 1, true)
        end, 20, "the timeout")
        answers_during("poll", "GET", "/batterySettings/", gets)
        -- the read after the failure shows where the battery is (the server
        -- took the PUT, its answer came too late)
        box:wait(function()
          return idle() and box:var(parent, SID, "LastError") == ""
        end, 20, "the read after the failure")
        local on = battery(sim).cfg and "1" or "0"
        assert.equal(on, status("cfg"))
        assert.equal(on, box:var(kids.cfg, SWP, "Target"))
      end)

      check("restarts cleanly while a call is in flight, and takes its answer after", function()
        sim:fault({ match = "batterySettings", method = "PUT", delay = 2, count = 1 })
        set_target("rbd", "1")
        box:wait(function()
          return #sim:requests_matching("POST", "isValid") > 0
        end, 10, "the call to start")
        box:reload() -- the port is free although the call's process still runs
        assert.truthy(box:log():find("picking up the calls in flight", 1, true))
        box:wait(function()
          return status("rbd") == "1"
        end, 20, "RBD's Status after the restart")
        assert.is_true(battery(sim).rbd)
        assert.equal("", box:var(parent, SID, "LastError"))
      end)

      check("a deleted child switch blocks nothing", function()
        box:get("id=device&action=delete&device=" .. kids.dtg)
        app_sets(sim, "rbd", { rbdControl = { enabled = true } })
        poll()
        poll()
        assert.equal("1", status("rbd"))
        set_target("cfg", "1")
        box:wait(function()
          return idle() and status("cfg") == "1"
        end, 20, "CFG on")
        assert.is_true(battery(sim).cfg)
        local log = box:log()
        assert.equal(1, count(log, "no child switch dtg (deleted?)"), log:sub(-2000))
        assert.equal(0, count(log, "error handling"))
        assert.equal("", box:var(parent, SID, "LastError"))
      end)
    end)
  end
end)
