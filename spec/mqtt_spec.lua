-- `enphase mqtt` against Debian's mosquitto (started here on free loopback
-- ports, with its own config) and the simulator, observed through a second
-- MQTT client (mosquitto_sub / mosquitto_pub). The bridge is a separate
-- process, started the way systemd starts it: a 0600 config file, the
-- broker password in it, nothing secret in argv.
local simulator = require("helpers.sim")
local brokers = require("helpers.broker")
local procs = require("helpers.procs")
local child = require("helpers.child")
local H = require("helpers.client")
local json = require("enphase.util.json")
local tls_ca = require("helpers.tls")
local socket = require("socket")

local SITE = H.SITE_ID
local BASE = "enphase/" .. SITE
local BROKER_USER, BROKER_PASSWORD = "bridge", "broker-secret-4711"

local function has_broker()
  return os.execute("command -v mosquitto >/dev/null && command -v mosquitto_sub >/dev/null")
end

-- The bridge process: start(args, config lines), then :stop() (SIGTERM) and
-- its exit code, :signal(name), :stderr().
local Bridge = {}
Bridge.__index = Bridge

local function start_bridge(dir, sim, broker, opts)
  opts = opts or {}
  local config = dir .. "/enphase.conf"
  local lines = {
    "ENPHASE_EMAIL=" .. H.EMAIL,
    "ENPHASE_PASSWORD=" .. (opts.password or H.PASSWORD),
    "ENPHASE_BASE_URL=" .. sim.base_url,
    "ENPHASE_MQTT_PASSWORD=" .. BROKER_PASSWORD,
  }
  for _, l in ipairs(opts.config or {}) do
    lines[#lines + 1] = l
  end
  procs.spit(config, table.concat(lines, "\n") .. "\n", "600")
  local argv = opts.argv and opts.argv(config) or { "mqtt", "--broker",
    ("mqtt://%s@127.0.0.1:%d"):format(BROKER_USER, broker.port), "--config", config,
    "--no-token-cache" }
  for _, a in ipairs(opts.args or {}) do
    argv[#argv + 1] = a
  end
  local quoted = {}
  for i, a in ipairs(argv) do
    quoted[i] = procs.shell_quote(a)
  end
  local err = dir .. "/bridge.err"
  local rc = dir .. "/bridge.rc"
  local env = ""
  for k, v in pairs(opts.env or {}) do
    env = env .. " " .. k .. "=" .. procs.shell_quote(v)
  end
  local cmd = ("cd %s && ( env -i PATH=/usr/bin:/bin HOME=%s%s %s %s >%s 2>%s </dev/null & "
    .. "echo $! >%s; wait $!; echo $? >%s ) >/dev/null 2>&1 &"):format(
    procs.shell_quote(simulator.ROOT), procs.shell_quote(dir), env, child.enphase,
    table.concat(quoted, " "), procs.shell_quote(dir .. "/bridge.out"), procs.shell_quote(err),
    procs.shell_quote(dir .. "/bridge.pid"), procs.shell_quote(rc))
  os.execute(cmd)
  local self = setmetatable({ dir = dir, rc = rc, err = err, config = config }, Bridge)
  local deadline = socket.gettime() + 5
  while not self.pid and socket.gettime() < deadline do
    self.pid = tonumber((procs.slurp(dir .. "/bridge.pid") or ""):match("%d+"))
    socket.sleep(0.02)
  end
  assert(self.pid, "the bridge did not start")
  return self
end

function Bridge:signal(name)
  os.execute(("kill -%s %d 2>/dev/null"):format(name, self.pid))
end

function Bridge:stderr()
  return procs.slurp(self.err) or ""
end

-- The exit code, waiting at most `timeout` seconds; nil if still running.
function Bridge:wait(timeout)
  local deadline = socket.gettime() + (timeout or 10)
  repeat
    local code = tonumber((procs.slurp(self.rc) or ""):match("%d+"))
    if code then
      return code
    end
    socket.sleep(0.05)
  until socket.gettime() > deadline
  return nil
end

function Bridge:stop()
  self:signal("TERM")
  local code = self:wait(10)
  if not code then
    self:signal("KILL")
  end
  return code
end

-- The simulator's requests matching method and path part.
local function count(sim, method, part)
  return #sim:requests_matching(method, part)
end

-- The broker's end of a connection to its `port` (accepted or not yet)
-- holds unread bytes: a client's first bytes (a TLS hello) wait there while
-- the broker is stopped. From /proc/net/tcp (IPv4; ports in hex).
local function hello_waiting(port)
  local want = ("%04X"):format(port)
  for line in (procs.slurp("/proc/net/tcp") or ""):gmatch("[^\n]+") do
    local lport, st, rxq = line:match("^%s*%d+: %x+:(%x+) %x+:%x+ (%x+) %x+:(%x+)")
    if lport == want and st == "01" and tonumber(rxq, 16) > 0 then
      return true
    end
  end
  return false
end

-- The process sleeps (state S: waiting in its loop, not inside a call that
-- computes, such as connect()'s TLS step on a non-blocking socket).
local function sleeping(pid)
  return (procs.slurp("/proc/" .. pid .. "/stat") or ""):match("^%d+ %b() (%a)") == "S"
end

describe("enphase mqtt with a real broker", function()
  if not has_broker() then
    it("needs mosquitto and mosquitto-clients (scripts/setup.sh installs them)", function()
      error("mosquitto is not installed")
    end)
    return
  end
  local sim = simulator.for_file(_ENV)
  local broker, watch, dir, bridge

  before_each(function()
    dir = procs.tmpdir("mqtt")
    broker = brokers.start({ users = { [BROKER_USER] = BROKER_PASSWORD } })
    watch = broker:watch("#")
  end)

  after_each(function()
    if bridge then
      bridge:stop()
      bridge = nil
    end
    broker:close()
    procs.rmdir(dir)
  end)

  -- Starts the bridge and waits for its first poll's state.
  local function running(opts)
    bridge = start_bridge(dir, sim, broker, opts)
    watch:wait_for(BASE .. "/soc")
    return bridge
  end

  it("publishes discovery: one device, each component's keys, unique ids, availability",
    function()
      running()
      watch:wait_for(BASE .. "/enlighten", "online")
      local configs, ids = {}, {}
      for _, l in ipairs(watch:lines()) do
        local component, node, object = l.topic:match("^homeassistant/(%w+)/([%w_]+)/([%w_]+)/config$")
        if component then
          local c = assert(json.decode(l.payload), l.payload)
          configs[object] = { component = component, node = node, c = c }
        end
      end
      local expected = {
        charge_from_grid = "switch", discharge_to_grid = "switch", restrict_discharge = "switch",
        storm_guard = "switch", profile = "select", reserve = "number", soc = "sensor",
        available_energy = "sensor", battery_power = "sensor", production_today = "sensor",
        consumption_today = "sensor", import_today = "sensor", export_today = "sensor",
        next_schedule = "sensor", budget_left = "sensor", last_error = "sensor",
        refresh = "button",
      }
      for object, component in pairs(expected) do
        local e = assert(configs[object], "no config for " .. object)
        assert.equal(component, e.component)
        assert.equal("enphase_" .. SITE, e.node)
        local c = e.c
        assert.is_string(c.name)
        assert.is_nil(ids[c.unique_id], "unique_id used twice: " .. tostring(c.unique_id))
        ids[c.unique_id] = true
        assert.same({ "enphase_" .. SITE }, c.device.identifiers)
        assert.equal("Enphase Energy", c.device.manufacturer)
        assert.is_string(c.device.model)
        assert.equal("enphase/status", c.availability[1].topic)
        if component == "button" then
          assert.equal(BASE .. "/refresh/press", c.command_topic)
        else
          assert.equal(BASE .. "/" .. object, c.state_topic)
        end
        if component == "switch" or component == "select" or component == "number" then
          assert.equal(BASE .. "/" .. object .. "/set", c.command_topic)
        end
      end
      local n = 0
      for _ in pairs(configs) do
        n = n + 1
      end
      assert.equal(17, n)
      assert.same({ "self-consumption", "cost_savings", "backup_only", "ai_optimisation" },
        configs.profile.c.options)
      assert.same({ 0, 100, 1 }, { configs.reserve.c.min, configs.reserve.c.max,
        configs.reserve.c.step })
      assert.same({ "battery", "%" }, { configs.soc.c.device_class,
        configs.soc.c.unit_of_measurement })
      assert.same({ "energy", "kWh", "total_increasing" }, { configs.import_today.c.device_class,
        configs.import_today.c.unit_of_measurement, configs.import_today.c.state_class })
      assert.same({ "power", "W" }, { configs.battery_power.c.device_class,
        configs.battery_power.c.unit_of_measurement })
      assert.equal("diagnostic", configs.last_error.c.entity_category)
      assert.equal("diagnostic", configs.budget_left.c.entity_category)
      -- the entities that need Enlighten also follow its availability
      assert.equal(BASE .. "/enlighten", configs.soc.c.availability[2].topic)
      assert.is_nil(configs.last_error.c.availability[2])
      -- availability is retained; discovery configs are retained
      assert.same({ "online", "1" }, { broker:retained("enphase/status") })
      local _, flag = broker:retained("homeassistant/sensor/enphase_" .. SITE .. "/soc/config")
      assert.equal("1", flag)
      -- Home Assistant coming back: everything again
      local before = #watch:on("homeassistant/button/enphase_" .. SITE .. "/refresh/config")
      broker:publish("homeassistant/status", "online", { qos = 1 })
      watch:wait_for("homeassistant/button/enphase_" .. SITE .. "/refresh/config", nil, before + 1)
    end)

  it("carries a command to the battery and publishes the read-back", function()
    running()
    local puts = count(sim, "PUT", "batterySettings")
    broker:publish(BASE .. "/charge_from_grid/set", "ON", { qos = 1 })
    watch:wait_for(BASE .. "/charge_from_grid", "ON")
    assert.equal(puts + 1, count(sim, "PUT", "batterySettings"))
    local c = H.new(sim)
    assert.is_true(c:settings().charge_from_grid)
    c:close()
    -- the reserve, checked as `enphase reserve N` checks it
    broker:publish(BASE .. "/reserve/set", "35", { qos = 1 })
    watch:wait_for(BASE .. "/reserve", "35")
  end)

  it("sends nothing for an invalid payload and says why on the diagnostic topic", function()
    running()
    local before = #sim:log()
    broker:publish(BASE .. "/reserve/set", "101", { qos = 1 })
    broker:publish(BASE .. "/charge_from_grid/set", "maybe", { qos = 1 })
    broker:publish(BASE .. "/profile/set", "max_power", { qos = 1 })
    watch:wait_until(function()
      return table.concat(watch:on(BASE .. "/last_error"), "\n"):find("profile must be")
    end, 10, "three refusals")
    local errs = table.concat(watch:on(BASE .. "/last_error"), "\n")
    assert.matches("input: reserve must be an integer from 0 to 100 %(got 101%)", errs)
    assert.matches("charge_from_grid: payload must be ON or OFF", errs)
    assert.matches("profile must be one of self%-consumption", errs)
    assert.equal(before, #sim:log())
    assert.matches("command reserve refused", bridge:stderr())
  end)

  it("shows a change made on the server at the next poll", function()
    running()
    watch:wait_for(BASE .. "/discharge_to_grid", "OFF")
    local c = H.new(sim)
    assert.is_true(c:discharge_to_grid(true))
    c:close()
    broker:publish(BASE .. "/refresh/press", "PRESS", { qos = 1 })
    watch:wait_for(BASE .. "/discharge_to_grid", "ON")
  end)

  it("lets the last command win while the same setting's write is in flight", function()
    running()
    local puts = count(sim, "PUT", "batterySettings")
    -- the first goes out at once; the next two arrive during its 1 s wait
    broker:publish(BASE .. "/restrict_discharge/set", "ON", { qos = 1 })
    broker:publish(BASE .. "/restrict_discharge/set", "OFF", { qos = 1 })
    broker:publish(BASE .. "/restrict_discharge/set", "ON", { qos = 1 })
    watch:wait_until(function()
      return bridge:stderr():find("restrict_discharge ON done", 1, true)
        and select(2, bridge:stderr():gsub("restrict_discharge %u+ done", "")) >= 2
    end, 15, "two writes done")
    -- ON, then the last one (ON): the OFF between them was replaced
    assert.equal(puts + 2, count(sim, "PUT", "batterySettings"))
    local c = H.new(sim)
    assert.is_true(c:settings().restrict_discharge)
    c:close()
    local states = watch:on(BASE .. "/restrict_discharge")
    assert.equal("ON", states[#states])
  end)

  it("survives a broker restart without losing a QoS 1 command", function()
    running()
    watch:wait_for("enphase/status", "online")
    -- the broker comes back, but the bridge cannot reach it yet
    broker:start_again({ only_watch = true })
    watch:stop()
    watch = broker:watch("#")
    broker:publish(BASE .. "/discharge_to_grid/set", "ON", { qos = 1 })
    broker:start_again()
    watch:stop()
    watch = broker:watch("#")
    -- (the bridge's backoff has grown meanwhile: up to 8 s here)
    local ok, err = pcall(watch.wait_for, watch, BASE .. "/discharge_to_grid", "ON", 1, 40)
    assert(ok, tostring(err) .. "\n" .. bridge:stderr())
    local c = H.new(sim)
    assert.is_true(c:settings().discharge_to_grid)
    c:close()
    assert.matches("reconnecting in", bridge:stderr())
  end)

  it("costs one login for a wrong password, and shows the error", function()
    bridge = start_bridge(dir, sim, broker, { password = "wrong-password",
      config = { "ENPHASE_SITE_ID=" .. SITE, "ENPHASE_USER_ID=" .. H.USER_ID } })
    watch:wait_for(BASE .. "/enlighten", "offline")
    for i = 1, 3 do
      broker:publish(BASE .. "/refresh/press", "PRESS", { qos = 1 })
      watch:wait_for(BASE .. "/last_error", nil, 1 + i)
    end
    assert.equal(1, count(sim, "POST", "/login/login"))
    local errs = table.concat(watch:on(BASE .. "/last_error"), "\n")
    assert.matches("\nauth: POST /login/login: invalid email or password", errs)
    assert.falsy(errs:find("wrong%-password"))
  end)

  it("rereads its config file on SIGHUP", function()
    running()
    watch:wait_for(BASE .. "/enlighten", "online")
    -- the account's password changed: the new config has the wrong one
    procs.spit(bridge.config, ("ENPHASE_EMAIL=%s\nENPHASE_PASSWORD=%s\nENPHASE_BASE_URL=%s\n"
      .. "ENPHASE_MQTT_PASSWORD=%s\n"):format(H.EMAIL, "changed-password", sim.base_url,
      BROKER_PASSWORD), "600")
    bridge:signal("HUP")
    local ok, err = pcall(watch.wait_for, watch, BASE .. "/enlighten", "offline")
    assert(ok, tostring(err) .. "\n" .. bridge:stderr())
    assert.matches("SIGHUP: configuration reread", bridge:stderr())
    assert.equal(2, count(sim, "POST", "/login/login"))
  end)

  it("keeps its polls within the budget share, and reads honour max_age", function()
    -- 60 requests an hour, half of them for polls: a poll of 6 requests may
    -- run every 720 s, not every 10 s
    running({ args = { "--poll", "10" }, config = { "ENPHASE_BUDGET=60", "ENPHASE_MAX_AGE=600" } })
    local settings_reads = count(sim, "GET", "batterySettings")
    broker:publish(BASE .. "/refresh/press", "PRESS", { qos = 1 })
    watch:wait_for(BASE .. "/soc", nil, 2)
    local ok, err = pcall(watch.wait_until, watch, function()
      return bridge:stderr():find("polling every %d+ s %(not 10%)")
    end, 10, "the lengthened poll in the log")
    assert(ok, tostring(err) .. bridge:stderr())
    -- a poll of n requests within 30 an hour: n * 120 s
    local n, every = bridge:stderr():match("a poll costs (%d+) requests: polling every (%d+) s")
    assert.equal(tonumber(n) * 120, tonumber(every))
    -- the second poll's settings came from the ledger (ENPHASE_MAX_AGE)
    assert.equal(settings_reads, count(sim, "GET", "batterySettings"))
  end)

  it("turns the entities unavailable while Enlighten cannot be reached", function()
    running()
    watch:wait_for(BASE .. "/enlighten", "online")
    sim:refuse(5)
    broker:publish(BASE .. "/refresh/press", "PRESS", { qos = 1 })
    watch:wait_for(BASE .. "/enlighten", "offline")
    -- the poll publishes offline first, then its error: the watcher may
    -- not have the second yet
    watch:wait_until(function()
      return table.concat(watch:on(BASE .. "/last_error"), "\n"):find("\nnetwork: ")
    end, 5, "a network error in last_error")
    assert.same({ "online", "1" }, { broker:retained("enphase/status") })
    -- Enlighten back: the next poll brings the entities back
    sim:wait_listening(15)
    broker:publish(BASE .. "/refresh/press", "PRESS", { qos = 1 })
    watch:wait_for(BASE .. "/enlighten", "online", 2)
  end)

  it("leaves offline retained on SIGTERM, exits 0, and shows no secret", function()
    running()
    assert.equal(0, bridge:stop())
    bridge = nil
    assert.same({ "offline", "1" }, { broker:retained("enphase/status") })
    local all = procs.slurp(dir .. "/bridge.err") .. "\n"
    for _, l in ipairs(watch:lines()) do
      all = all .. l.topic .. " " .. l.payload .. "\n"
    end
    assert.falsy(all:find(BROKER_PASSWORD, 1, true))
    assert.falsy(all:find(H.PASSWORD, 1, true))
  end)

  it("refuses a password in the broker URL and a wrong broker password", function()
    local p = start_bridge(dir, sim, broker, { args = { "--broker",
      "mqtt://u:pw@127.0.0.1:" .. broker.port } })
    assert.equal(2, p:wait(10))
    assert.matches("no password in the URL", p:stderr())
    procs.rmdir(dir)
    dir = procs.tmpdir("mqtt")
    local wrong = start_bridge(dir, sim, broker, { args = { "--broker",
      "mqtt://nobody@127.0.0.1:" .. broker.port } })
    assert.equal(1, wrong:wait(10))
    assert.matches("refused the connection", wrong:stderr())
    assert.falsy(wrong:stderr():find(BROKER_PASSWORD, 1, true))
  end)

  -- mqtts through a broker with a test CA's certificate. The TLS handshake
  -- ends either inside connect() (the broker answered at once: an idle
  -- machine) or later in the bridge's loop (the broker answered late: a
  -- loaded one); `late` makes the second happen whatever the load: the
  -- broker is stopped (SIGSTOP) until the bridge's hello waits unread in
  -- the broker's socket and the bridge sleeps in its loop. Returns the
  -- bridge's stderr and its status messages (read after its stop).
  local function over_tls(ca, ca_file, late, until_fn)
    local cert = ca:server("localhost", { "DNS:localhost", "IP:127.0.0.1", "DNS:127.0.0.1" })
    local tls_broker = brokers.start({ users = { [BROKER_USER] = BROKER_PASSWORD }, tls = cert })
    local tls_watch = tls_broker:watch("#")
    local d = procs.tmpdir("mqtt")
    if late then
      os.execute("kill -STOP " .. tls_broker.pid)
    end
    -- 127.0.0.1, not localhost: the broker listens on IPv4 only, and a ::1
    -- first in the resolver's answer would be tried first
    local p = start_bridge(d, sim, tls_broker, { args = { "--broker",
      ("mqtts://%s@127.0.0.1:%d"):format(BROKER_USER, tls_broker.port), "--ca-file", ca_file } })
    local ok, err = pcall(function()
      if late then
        tls_watch:wait_until(function()
          return hello_waiting(tls_broker.port) and sleeping(p.pid)
        end, 30, "the bridge's TLS hello in the stopped broker's socket")
        os.execute("kill -CONT " .. tls_broker.pid)
      end
      -- no answer within 30 s (a loaded machine's worst is a few) fails
      tls_watch:wait_until(function()
        return until_fn(p, tls_watch)
      end, 30, "the bridge's first connection to end")
    end)
    os.execute("kill -CONT " .. tls_broker.pid .. " 2>/dev/null")
    p:stop()
    local stderr, status = p:stderr(), tls_watch:on("enphase/status")
    tls_broker:close()
    procs.rmdir(d)
    assert(ok, tostring(err) .. "\n" .. stderr)
    return stderr, status
  end

  it("speaks mqtts to a broker whose certificate the --ca-file CA signed", function()
    local ca = tls_ca.new()
    local ok, err = pcall(function()
      for _, late in ipairs({ false, true }) do
        local stderr, status = over_tls(ca, ca.ca, late, function(_, w)
          return #w:on("enphase/status") > 0
        end)
        assert.equal("online", status[1], stderr)
        -- online from the first connection, not after CONNACK_WAIT's retry
        assert.falsy(stderr:find("no answer from the broker", 1, true), stderr)
      end
    end)
    ca:cleanup()
    assert(ok, err)
  end)

  it("refuses a broker whose certificate another CA signed, says so at once, publishes nothing",
    function()
      local ca, other = tls_ca.new(), tls_ca.new()
      local ok, err = pcall(function()
        for _, late in ipairs({ false, true }) do
          local stderr, status = over_tls(ca, other.ca, late, function(p)
            return p:stderr():find("A TLS error occurred", 1, true)
          end)
          -- the refusal is the first thing said about the broker: a handshake
          -- refused in the loop must not wait CONNACK_WAIT (10 s) in silence
          local first = stderr:match("MQTT: ([^\n]*)")
          assert.truthy(first and first:find("A TLS error occurred", 1, true), stderr)
          assert.falsy(stderr:find("no answer from the broker", 1, true), stderr)
          assert.truthy(#status == 0 or (#status == 1 and status[1] == "offline"),
            "published through a broker with an unknown CA: " .. table.concat(status, ","))
        end
      end)
      ca:cleanup()
      other:cleanup()
      assert(ok, err)
    end)

  it("runs from examples/systemd/enphase-mqtt.service as systemd would start it", function()
    local path = simulator.ROOT .. "/examples/systemd/enphase-mqtt.service"
    local u = {}
    for line in procs.slurp(path):gmatch("[^\n]+") do
      local k, v = line:match("^(%w+)=(.*)$")
      if k then
        u[k] = v
      end
    end
    assert.equal("on-failure", u.Restart)
    assert.equal("enphase", u.CacheDirectory)
    assert.equal("0700", u.CacheDirectoryMode)
    assert.equal("XDG_CACHE_HOME=/var/cache", u.Environment)
    assert.equal("/bin/kill -HUP $MAINPID", u.ExecReload)
    local words = {}
    for w in u.ExecStart:gmatch("%S+") do
      words[#words + 1] = w
    end
    assert.equal("/usr/bin/enphase", table.remove(words, 1))
    assert.same({ "mqtt", "--broker", "mqtt://enphase@localhost", "--config",
      "/etc/enphase-mqtt.conf" }, words)
    assert.falsy(u.ExecStart:find("PASSWORD", 1, true))
    -- the same command line here: the broker's port, the config in the box, the cache folder
    -- systemd would make (0700)
    local cache = dir .. "/var-cache"
    os.execute("mkdir -p -m 700 " .. procs.shell_quote(cache .. "/enphase"))
    bridge = start_bridge(dir, sim, broker, {
      argv = function(config)
        words[3] = ("mqtt://%s@127.0.0.1:%d"):format(BROKER_USER, broker.port)
        words[5] = config
        return words
      end,
      env = { XDG_CACHE_HOME = cache },
    })
    watch:wait_for(BASE .. "/soc")
    local sessions = procs.capture("ls " .. procs.shell_quote(cache .. "/enphase"))
    assert.matches("session%-%x+%.json", sessions)
    assert.equal(0, bridge:stop()) -- `systemctl stop`: no restart after a clean stop
    bridge = nil
    assert.same({ "offline", "1" }, { broker:retained("enphase/status") })
    if procs.capture("command -v systemd-analyze") ~= "" then
      local copy = dir .. "/enphase-mqtt.service"
      local root = procs.capture("cd " .. procs.shell_quote(simulator.ROOT) .. " && pwd"):gsub("%s+$", "")
      procs.spit(copy, (procs.slurp(path):gsub("/usr/bin/enphase", root .. "/bin/enphase")))
      local out = procs.capture(("cd %s && systemd-analyze verify ./enphase-mqtt.service 2>&1; "
        .. "echo rc=$?"):format(procs.shell_quote(dir)))
      assert.matches("rc=0\n$", out)
    end
  end)
end)
