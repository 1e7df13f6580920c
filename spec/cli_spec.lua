-- The `enphase` command, run as a separate process the way cron or a Home
-- Assistant command_line sensor runs it.
local child = require("helpers.child")
local simulator = require("helpers.sim")
local H = require("helpers.client")
local json = require("cjson")

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Runs bin/enphase with `env` (a table) and arguments; returns exit code,
-- stdout, stderr.
local function run(env, ...)
  local out, errf = os.tmpname(), os.tmpname()
  local parts = { "env -i PATH=/usr/bin:/bin" }
  for k, v in pairs(env or {}) do
    parts[#parts + 1] = k .. "=" .. shell_quote(v)
  end
  parts[#parts + 1] = child.enphase
  for _, a in ipairs({ ... }) do
    parts[#parts + 1] = shell_quote(a)
  end
  local cmd = table.concat(parts, " ") .. " >" .. out .. " 2>" .. errf
  local _, _, code = os.execute(cmd)
  local function slurp(p)
    local f = assert(io.open(p))
    local s = f:read("a")
    f:close()
    os.remove(p)
    return s
  end
  return code, slurp(out), slurp(errf)
end

-- argv followed by more words.
local function with(argv, ...)
  local out = { table.unpack(argv) }
  for _, w in ipairs({ ... }) do
    out[#out + 1] = w
  end
  return table.unpack(out)
end

describe("the enphase command", function()
  local sim, env

  setup(function()
    sim = simulator.start()
    env = { ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD, ENPHASE_BASE_URL = sim.base_url }
  end)

  teardown(function()
    sim:stop()
  end)

  before_each(function()
    sim:reset()
  end)

  it("prints help for the tool and for every command", function()
    local code, out = run({}, "--help")
    assert.equal(0, code)
    for _, name in ipairs({ "status", "token", "cfg", "dtg", "rbd", "settings", "schedule",
                            "profile", "reserve", "sim" }) do
      assert.truthy(out:find("\n  " .. name .. " ", 1, true), name)
      local c, o = run({}, name, "--help")
      assert.equal(0, c, name)
      assert.truthy(o:lower():find("usage", 1, true), name)
    end
  end)

  it("shows the status, with the simulator's ids and no secret", function()
    local code, out, err = run(env, "status")
    assert.equal(0, code, err)
    assert.truthy(out:find("OK", 1, true))
    assert.truthy(out:find(tostring(H.SITE_ID), 1, true))
    assert.truthy(out:find(tostring(H.USER_ID), 1, true))
    assert.falsy(out:find(H.PASSWORD, 1, true))
    code, out = run(env, "status", "--json")
    assert.equal(0, code)
    local st = json.decode(out)
    assert.same({ "OK", H.SITE_ID, H.USER_ID }, { st.status, st.site_id, st.user_id })
  end)

  it("prints the seed's token line exactly, for Home Assistant", function()
    local code, out = run(env, "token", "--json")
    assert.equal(0, code)
    local line = out:gsub("\n$", "")
    assert.truthy(line:match('^{"status":"OK","token":"[%w%-_]+%.[%w%-_]+%.[%w%-_]+","xsrf":"[^"]+",'
      .. '"exp":%d+,"user_id":4980363,"battery_id":5652514}$'), line)
  end)

  it("turns charge from grid on and off", function()
    local code, out, err = run(env, "cfg", "on")
    assert.equal(0, code, err)
    assert.equal("cfg on\n", out)
    assert.is_true(json.decode((select(2, run(env, "settings", "--json")))).chargeFromGrid)
    assert.equal(0, (run(env, "cfg", "off")))
  end)

  it("adds, lists and deletes a schedule", function()
    local code, id, err = run(env, "schedule", "add", "--type", "DTG", "--start", "17:00", "--end",
      "19:30", "--days", "1,2,3,4,5", "--tz", "Europe/Paris")
    assert.equal(0, code, err)
    id = id:gsub("\n$", "")
    local _, out = run(env, "schedule", "list", "--json")
    local list = json.decode(out)
    assert.equal(id, list.dtg[1].id)
    assert.equal(6, list.dtg[1].limit)
    assert.equal("Europe/Paris", list.dtg[1].timezone)
    _, out = run(env, "schedule", "list")
    assert.truthy(out:find("TYPE", 1, true))
    assert.truthy(out:find(id, 1, true))
    assert.equal(0, (run(env, "schedule", "delete", id)))
    _, out = run(env, "schedule", "list", "--json", "--type", "dtg")
    assert.same({}, json.decode(out).dtg)
  end)

  it("refuses bad input with exit code 2 and sends nothing", function()
    local cases = {
      { "cfg", "maybe" },
      { "schedule", "add", "--type", "CFG", "--start", "2am", "--end", "05:00", "--days", "1" },
      { "schedule", "add", "--type", "CFG", "--start", "02:00", "--end", "05:00", "--days", "9" },
      { "schedule", "add", "--type", "CFG", "--start", "02:00", "--end", "05:00", "--days", "1",
        "--limit", "3" },
      { "schedule", "clear", "some" },
      { "reserve", "150" },
      { "frobnicate" },
      { "status", "--password", "secret" },
    }
    for _, argv in ipairs(cases) do
      local code, _, err = run(env, table.unpack(argv))
      assert.equal(2, code, table.concat(argv, " "))
      assert.truthy(#err > 0)
    end
    assert.equal(0, #sim:log())
  end)

  it("prints the requests of --dry-run, secrets redacted, and sends nothing", function()
    local code, out = run(env, "cfg", "on", "--dry-run")
    assert.equal(0, code)
    assert.truthy(out:find("POST " .. sim.base_url .. "/service/batteryConfig/api/v1/battery/sites/"
      .. "<site>/schedules/isValid", 1, true))
    assert.truthy(out:find("[REDACTED]", 1, true))
    code = run(env, "schedule", "clear", "all", "--dry-run")
    assert.equal(0, code)
    assert.equal(0, #sim:log())
  end)

  -- issue 8, defect 9: the dry run validates like the run, shows every
  -- request the run sends, and reads the same settings.
  it("refuses in --dry-run exactly what the run refuses (exit 2, nothing sent)", function()
    local cases = {
      { "schedule", "add", "--type", "CFG", "--start", "25:00", "--end", "05:00", "--days", "1" },
      { "schedule", "add", "--type", "CFG", "--start", "02:00", "--end", "05:00", "--days", "9" },
      { "schedule", "add", "--type", "DTG", "--start", "02:00", "--end", "05:00", "--days", "1",
        "--limit", "3", "--tz", "UTC" },
      { "schedule", "update", "abc-1", "--start", "24:00" },
      { "schedule", "delete", "../x" },
      { "reserve", "150" },
      { "reserve", "ten" },
      { "profile", "cost_savings", "--reserve", "150" },
      { "profile", "fastest", "--reserve", "10" },
      { "cfg", "maybe" },
    }
    for _, argv in ipairs(cases) do
      local what = table.concat(argv, " ")
      local code, out, err = run(env, table.unpack(argv))
      local dcode, dout, derr = run(env, with(argv, "--dry-run"))
      assert.equal(2, code, what)
      assert.equal(2, dcode, what .. " --dry-run")
      assert.equal("", dout, what)
      assert.equal(out, dout, what)
      assert.equal(err, derr, what)
    end
    assert.equal(0, #sim:log())
  end)

  it("lists in --dry-run every request the run then sends", function()
    local dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -m 700 " .. shell_quote(dir))
    local cache = dir .. "/session.json"
    assert.equal(0, (run(env, "status", "--token-cache", cache)))
    local commands = {
      { "cfg", "on" },
      { "profile", "cost_savings", "--reserve", "30" },
      { "reserve", "40" },
      { "profile", "--cancel" },
      { "schedule", "add", "--type", "CFG", "--start", "01:00", "--end", "02:00", "--days", "1,2",
        "--tz", "Europe/Paris" },
      { "cfg", "off" },
    }
    for _, argv in ipairs(commands) do
      local what = table.concat(argv, " ")
      local code, out, err = run(env, with(argv, "--dry-run", "--token-cache", cache))
      assert.equal(0, code, what .. ": " .. err)
      local shown = {}
      for method, url in out:gmatch("\n%d+%. (%u+) (%S+)") do
        shown[#shown + 1] = method .. " " .. url
      end
      local mark = #sim:log()
      code, _, err = run(env, with(argv, "--token-cache", cache))
      assert.equal(0, code, what .. ": " .. err)
      local sent = {}
      for _, e in ipairs(H.since(sim, mark)) do
        sent[#sent + 1] = e.method .. " " .. sim.base_url .. e.path
          .. (e.query ~= "" and ("?" .. e.query) or "")
      end
      assert.same(sent, shown, what)
    end
    os.execute("rm -rf " .. shell_quote(dir))
  end)

  it("prints the seed's waits and the profile's operationModeSubType in --dry-run", function()
    local code, out = run(env, "cfg", "off", "--delete-schedules", "--dry-run")
    assert.equal(0, code)
    assert.truthy(out:find("wait 1 s", 1, true))
    assert.truthy(out:find("wait 2.5 s", 1, true))
    assert.truthy(out:find("wait 2 s", 1, true))
    assert.truthy(out:find("/batterySettings/", 1, true)) -- the control objects (issue 18)
    code, out = run(env, "profile", "ai_optimisation", "--reserve", "30", "--dry-run", "--json")
    assert.equal(0, code)
    local plan = json.decode(out)
    assert.is_true(plan.dry_run)
    local put
    for _, step in ipairs(plan.steps) do
      put = put or (step.method == "PUT" and step or nil)
    end
    assert.equal("PUT", put.method)
    assert.same({ profile = "ai_optimisation", batteryBackupPercentage = 30,
                  operationModeSubType = "prioritize-energy" }, json.decode(put.body))
    assert.equal("[REDACTED]", put.headers["e-auth-token"])
    assert.equal(0, #sim:log())
  end)

  it("takes ENPHASE_TIMEZONE from --config in --dry-run as in the run", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("ENPHASE_EMAIL=", H.EMAIL, "\nENPHASE_PASSWORD=", H.PASSWORD, "\nENPHASE_BASE_URL=",
      sim.base_url, "\nENPHASE_TIMEZONE=America/Argentina/Salta\n")
    f:close()
    os.execute("chmod 600 " .. path)
    local code, out, err = run({}, "schedule", "add", "--type", "CFG", "--start", "02:00", "--end",
      "05:00", "--days", "1", "--config", path, "--dry-run", "--no-token-cache")
    assert.equal(0, code, err)
    assert.truthy(out:find('"timezone":"America/Argentina/Salta"', 1, true), out)
    assert.equal(0, #sim:log())
    code, out, err = run({}, "schedule", "add", "--type", "CFG", "--start", "02:00", "--end", "05:00",
      "--days", "1", "--config", path, "--no-token-cache")
    assert.truthy(#out > 0)
    assert.equal(0, code, err)
    assert.equal("America/Argentina/Salta", sim:state().accounts[1].schedules[1].timezone)
    os.remove(path)
  end)

  -- issue 8, defect 10: every command honours --json.
  it("prints one JSON document with --json from every command", function()
    local code, out, err = run(env, "schedule", "add", "--type", "CFG", "--start", "02:00", "--end",
      "05:00", "--days", "1,2", "--tz", "UTC", "--json")
    assert.equal(0, code, err)
    local id = json.decode(out).id
    local commands = {
      { { "status" }, "status" },
      { { "settings" }, "chargeFromGrid" },
      { { "cfg", "on" }, "charge_from_grid" },
      { { "profile" }, "profile" },
      { { "profile", "cost_savings", "--reserve", "30" }, "state" },
      { { "reserve", "40" }, "state" },
      { { "profile", "--cancel" }, "state" },
      { { "schedule", "list" }, "cfg" },
      { { "schedule", "update", id, "--limit", "90" }, "state" },
      { { "cfg", "off", "--delete-schedules" }, "deleted" },
      { { "schedule", "clear", "all" }, "deleted" },
      { { "dtg", "on", "--dry-run" }, "steps" },
    }
    for _, c in ipairs(commands) do
      local what = table.concat(c[1], " ")
      code, out, err = run(env, with(c[1], "--json"))
      assert.equal(0, code, what .. ": " .. err)
      local doc = json.decode(out)
      assert.is_table(doc, what)
      assert.is_not_nil(doc[c[2]], what .. ": " .. out)
      assert.equal(out:gsub("\n$", ""):find("\n", 1, true), nil, what .. ": one line")
    end
    code, out = run(env, "reserve", "45", "--json")
    assert.equal(0, code)
    assert.same({ reserve = 45, state = "applied" }, json.decode(out))
    code, out = run(env, "cfg", "off", "--delete-schedules", "--json")
    assert.equal(0, code)
    local doc = json.decode(out)
    assert.same({ false, 0 }, { doc.charge_from_grid, doc.deleted })
  end)

  it("exits 1 on a remote failure and 2 without credentials", function()
    local code, _, err = run({ ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = "wrong",
                               ENPHASE_BASE_URL = sim.base_url }, "status")
    assert.equal(1, code)
    assert.truthy(err:find("enphase status:", 1, true))
    code = run({ ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = "x", ENPHASE_BASE_URL = "http://127.0.0.1:1" },
      "status")
    assert.equal(1, code)
    code, _, err = run({}, "status")
    assert.equal(2, code)
    assert.truthy(err:find("ENPHASE_EMAIL", 1, true))
  end)

  it("prints a failure under --json as one JSON object with its kind", function()
    local code, out, err = run({ ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = "wrong",
                                 ENPHASE_BASE_URL = sim.base_url }, "settings", "--json")
    assert.equal(1, code)
    local e = json.decode(out)
    assert.equal("auth", e.kind)
    assert.truthy(err:find(e.error, 1, true), err)
    assert.falsy(out:find("wrong", 1, true))
    code, out = run({ ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = "x",
                      ENPHASE_BASE_URL = "http://127.0.0.1:1" }, "cfg", "on", "--json")
    assert.equal(1, code)
    assert.equal("network", json.decode(out).kind)
    code, out = run(env, "cfg", "maybe", "--json")
    assert.equal(2, code)
    assert.equal("input", json.decode(out).kind)
    -- without --json, stdout stays empty
    code, out = run(env, "cfg", "maybe")
    assert.equal(2, code)
    assert.equal("", out)
  end)

  it("reads a private config file and refuses one that others can read", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("# lua-enphase\nENPHASE_EMAIL=", H.EMAIL, "\nENPHASE_PASSWORD='", H.PASSWORD, "'\n",
      "export ENPHASE_BASE_URL=", sim.base_url, "\n")
    f:close()
    os.execute("chmod 600 " .. path)
    local code, out, err = run({}, "status", "--config", path)
    assert.equal(0, code, err)
    assert.truthy(out:find("OK", 1, true))
    os.execute("chmod 644 " .. path)
    local _
    code, _, err = run({}, "status", "--config", path)
    assert.equal(2, code)
    assert.truthy(err:find("readable by others", 1, true))
    os.remove(path)
  end)

  it("lets --base-url override the environment", function()
    local code = run({ ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD,
                       ENPHASE_BASE_URL = "http://127.0.0.1:1" }, "status", "--base-url", sim.base_url)
    assert.equal(0, code)
  end)
end)
