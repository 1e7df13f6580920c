-- The examples are run, not just shipped: each against the simulator.
local child = require("helpers.child")
local simulator = require("helpers.sim")
local H = require("helpers.client")

local function run_example(sim, script, ...)
  local env = ("ENPHASE_EMAIL=%s ENPHASE_PASSWORD=%s ENPHASE_BASE_URL=%s ENPHASE_TIMEZONE=Europe/London")
    :format(H.EMAIL, H.PASSWORD, sim.base_url)
  local cmd = ("env %s %s %s %s 2>&1"):format(env, child.lua, script, table.concat({ ... }, " "))
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  local ok, _, code = p:close()
  return ok and 0 or code, out
end

describe("the examples", function()
  local sim = simulator.for_file(_ENV)

  it("demo.lua runs the whole flow", function()
    local code, out = run_example(sim, "examples/demo.lua")
    assert.equal(0, code, out)
    assert.truthy(out:find("status OK: site 5652514, user 4980363", 1, true), out)
    assert.truthy(out:find("1 schedule(s) deleted", 1, true), out)
    assert.truthy(out:find("demo finished: OK", 1, true), out)
    assert.equal(0, #sim:state().accounts[1].schedules)
  end)

  it("night_charge_script.lua converges, and a second run changes nothing", function()
    local code, out = run_example(sim, "examples/night_charge_script.lua", "00:30", "04:30")
    assert.equal(0, code, out)
    assert.truthy(out:find("added CFG window 00:30-04:30", 1, true), out)
    local function writes_sent()
      local n = 0
      for _, e in ipairs(sim:log()) do
        if e.method == "PUT" or (e.method == "POST" and (e.path:match("/schedules$")
            or e.path:match("/delete$"))) then
          n = n + 1
        end
      end
      return n
    end
    local writes = writes_sent()
    code, out = run_example(sim, "examples/night_charge_script.lua", "00:30", "04:30")
    assert.equal(0, code, out)
    assert.falsy(out:find("added", 1, true))
    assert.equal(writes, writes_sent())
  end)

  it("fleet_status.lua reads many sites at once through the engine", function()
    for i = 1, 12 do
      sim:account({ email = ("site%d@example.com"):format(i), password = "pw" .. i,
                    site_id = 7000 + i, user_id = 8000 + i })
    end
    local accounts = os.tmpname()
    local f = assert(io.open(accounts, "w"))
    for i = 1, 12 do
      f:write(("site%d@example.com pw%d\n"):format(i, i))
    end
    f:close()
    os.execute("chmod 600 " .. accounts)
    local code, out = run_example(sim, "examples/fleet_status.lua", accounts)
    os.remove(accounts)
    assert.equal(0, code, out)
    assert.truthy(out:find("12 sites in", 1, true), out)
    assert.truthy(out:find("site12@example.com%s+site 7012%s+cfg off"), out)
    -- concurrent: each account on its own connection, all logged in
    assert.equal(12, sim:state().logins)
    assert.equal(12, sim:state().connections)
  end)

  it("domoticz/in_process.lua toggles discharge to grid and logs failures without raising", function()
    local logs = {}
    local cache_dir = io.popen("mktemp -d"):read("l")
    -- the password lives in the private config file, never in a user variable
    local config = cache_dir .. "/enphase.conf"
    local f = assert(io.open(config, "w"))
    f:write("ENPHASE_EMAIL=", H.EMAIL, "\nENPHASE_PASSWORD=", H.PASSWORD, "\nENPHASE_BASE_URL=",
      sim.base_url, "\nENPHASE_TOKEN_CACHE=", cache_dir, "/session.json\n")
    f:close()
    os.execute("chmod 600 " .. config)
    local asked = {}
    local domoticz = {
      LOG_INFO = 1, LOG_ERROR = 2,
      utils = { variableExists = function(name)
        return name == "enphase_config"
      end },
      variables = function(name)
        asked[#asked + 1] = name
        return { value = config }
      end,
      log = function(msg, level)
        logs[#logs + 1] = { msg, level }
      end,
    }
    local enphase = require("enphase")
    local real_new = enphase.new
    enphase.new = function(opts)
      assert.equal(1, opts.attempts)
      assert.equal(5, opts.timeout)
      assert.equal(cache_dir .. "/session.json", opts.token_cache)
      opts.sleep = function() end
      return real_new(opts)
    end
    local script = dofile("examples/domoticz/in_process.lua")
    script.execute(domoticz, { trigger = "at 17:00" })
    assert.truthy(logs[#logs][1]:find("discharge to grid on", 1, true))
    sim:fault({ match = "batterySettings", action = "status", status = 400, count = 10 })
    assert.has_no.errors(function()
      script.execute(domoticz, { trigger = "at 20:00" })
    end)
    assert.equal(2, logs[#logs][2])
    assert.same({ "enphase_config" }, asked)
    enphase.new = real_new
    os.execute("rm -rf " .. cache_dir)
  end)
end)
