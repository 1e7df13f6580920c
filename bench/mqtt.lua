-- `enphase mqtt` (the bridge) against a real mosquitto and the simulator:
--   * idle CPU at a 60 s poll: the bridge's CPU time (/proc/<pid>/stat)
--     over BENCH_MQTT_WINDOW seconds (default 120: two polls), as a share
--     of one core (target < 0.1 %);
--   * RSS (VmRSS, VmHWM from /proc/<pid>/status) after that (target < 10 MB);
--   * command-to-PUT latency beyond the seed's one-second wait: a command
--     published at t0 (through enphase.mqtt from this process), the
--     simulator's log stamps of its isValid and PUT; latency = PUT - t0 - 1 s
--     (target < 50 ms), median of BENCH_MQTT_COMMANDS (default 10);
--   * messages per poll: what a watcher sees between a refresh and the
--     poll's last message, and the requests the poll cost.
-- Nothing passes or fails here; the table is the result.
-- Run: lua5.4 bench/mqtt.lua
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local B = require("common")
local brokers = require("helpers.broker")
local socket = require("socket")
local mqtt = require("enphase.mqtt")

local WINDOW = tonumber(os.getenv("BENCH_MQTT_WINDOW") or "") or 120
local COMMANDS = math.floor(tonumber(os.getenv("BENCH_MQTT_COMMANDS") or "") or 10)
local SITE = B.SITE
local BASE = "enphase/" .. SITE

local function median(list)
  local t = {}
  for i, v in ipairs(list) do
    t[i] = v
  end
  table.sort(t)
  local n = #t
  if n == 0 then
    return 0 / 0
  end
  return n % 2 == 1 and t[(n + 1) / 2] or (t[n / 2] + t[n / 2 + 1]) / 2
end

local function status_kb(pid, field)
  local text = B.read_file("/proc/" .. pid .. "/status") or ""
  return tonumber(text:match(field .. ":%s*(%d+)"))
end

local sim = B.start_sim({})
local broker = brokers.start({ users = { bridge = "bench-broker-pw" } })
local dir = B.tmpdir()
local conf = dir .. "/enphase.conf"
-- a budget that lets a 6-request poll run every 60 s within the default 50 % share
B.write_file(conf, table.concat({ "ENPHASE_EMAIL=" .. B.EMAIL, "ENPHASE_PASSWORD=" .. B.PASSWORD,
  "ENPHASE_BASE_URL=" .. sim.base_url, "ENPHASE_MQTT_PASSWORD=bench-broker-pw",
  "ENPHASE_BUDGET=1000" }, "\n") .. "\n", "600")
local pid = tonumber(B.sh(("cd %s && env -i PATH=/usr/bin:/bin HOME=%s lua5.4 bin/enphase mqtt "
  .. "--broker mqtt://bridge@127.0.0.1:%d --config %s --no-token-cache --poll 60 "
  .. ">%s/out 2>%s/err </dev/null & echo $!"):format(B.shell_quote(B.ROOT), B.shell_quote(dir),
  broker.port, B.shell_quote(conf), B.shell_quote(dir), B.shell_quote(dir))):match("%d+"))

local watch = broker:watch("#")
watch:wait_for(BASE .. "/soc", nil, 1, 30)
socket.sleep(1)

-- idle CPU over the window (the polls inside it included)
io.stderr:write(("bench mqtt: measuring idle CPU over %d s\n"):format(WINDOW))
local cpu0, t0 = B.process_cpu(pid), socket.gettime()
socket.sleep(WINDOW)
local cpu1, t1 = B.process_cpu(pid), socket.gettime()
local idle_share = (cpu1 - cpu0) / (t1 - t0) * 100
local polls_in_window = #watch:on(BASE .. "/soc") - 1
local rss, hwm = status_kb(pid, "VmRSS"), status_kb(pid, "VmHWM")
local anon, file = status_kb(pid, "RssAnon"), status_kb(pid, "RssFile")
-- PSS: shared library pages divided among the processes that map them
local pss = tonumber((B.read_file("/proc/" .. pid .. "/smaps_rollup") or ""):match("\nPss:%s*(%d+)"))
-- what the libraries cost alone: a bare Lua with the two C modules loaded
local bare = B.sh(("cd %s && lua5.4 -e %s"):format(B.shell_quote(B.ROOT), B.shell_quote(
  "package.cpath='build/?.so;'..package.cpath; require('enphase.core'); require('enphase.mqtt'); "
  .. "print((io.open('/proc/self/status'):read('a'):match('VmRSS:%s*(%d+)')))")))
local bare_rss = tonumber(bare:match("%d+"))

-- messages and requests per poll: a refresh, then the poll's last message
local seen = #watch:lines()
local last_errors = #watch:on(BASE .. "/last_error/attributes")
local requests0 = B.counters(sim).requests
broker:publish(BASE .. "/refresh/press", "PRESS", { qos = 1 })
watch:wait_for(BASE .. "/last_error/attributes", nil, last_errors + 1, 30)
socket.sleep(0.3)
local per_poll = 0
for i, l in ipairs(watch:lines()) do
  if i > seen and l.topic ~= BASE .. "/refresh/press" then -- not the press itself
    per_poll = per_poll + 1
  end
end
local requests_per_poll = B.counters(sim).requests - requests0

-- command-to-PUT latency: this process publishes; the simulator stamps
local pub = assert(mqtt.new("bench-publisher", true))
assert(pub:credentials(brokers.WATCHER, brokers.WATCHER_PASSWORD))
assert(pub:connect("127.0.0.1", broker.watch_port, 30))
local deadline = socket.gettime() + 10
while not pub:connected() and socket.gettime() < deadline do
  pub:step(0.05)
  pub:events()
end
local beyond, to_first = {}, {}
for i = 1, COMMANDS do
  local word = i % 2 == 1 and "ON" or "OFF"
  local seq = #sim:log()
  local before = 0
  for _, p in ipairs(watch:on(BASE .. "/charge_from_grid")) do
    before = before + (p == word and 1 or 0)
  end
  local start = socket.gettime()
  assert(pub:publish(BASE .. "/charge_from_grid/set", word, 1, false))
  pub:step(0)
  watch:wait_for(BASE .. "/charge_from_grid", word, before + 1, 30)
  local valid_at, put_at
  for j, e in ipairs(sim:log()) do
    if j > seq and e.method == "POST" and e.path:find("isValid") and not valid_at then
      valid_at = e.time
    elseif j > seq and e.method == "PUT" and e.path:find("batterySettings") and not put_at then
      put_at = e.time
    end
  end
  beyond[#beyond + 1] = (put_at - start - 1.0) * 1000
  to_first[#to_first + 1] = (valid_at - start) * 1000
  pub:step(0.01)
  pub:events()
end
pub:close()

os.execute("kill -TERM " .. pid)
socket.sleep(0.5)
broker:close()
sim:stop()
B.rmdir(dir)

B.print_table("enphase mqtt: the bridge against mosquitto " .. mqtt.version()
  .. " and the simulator", { "measure", "value", "target" }, {
  { ("idle CPU at a 60 s poll (%d s, %d polls)"):format(math.floor(t1 - t0 + 0.5),
    polls_in_window), ("%.3f %% of a core"):format(idle_share), "< 0.1 %" },
  { "RSS after the window (VmRSS / VmHWM)", ("%.1f MB / %.1f MB"):format(rss / 1024,
    hwm / 1024), "< 10 MB" },
  { "  of which private (RssAnon) / file-backed (RssFile)", ("%.1f MB / %.1f MB"):format(
    anon / 1024, file / 1024), "" },
  { "  PSS (shared pages divided among their users)", pss and ("%.1f MB"):format(pss / 1024)
    or "n/a", "" },
  { "  a bare lua5.4 with enphase.core + enphase.mqtt loaded", bare_rss
    and ("%.1f MB"):format(bare_rss / 1024) or "n/a", "" },
  { ("command to PUT beyond the seed's 1 s (median of %d)"):format(COMMANDS),
    ("%.1f ms"):format(median(beyond)), "< 50 ms" },
  { "command to isValid (median)", ("%.1f ms"):format(median(to_first)), "" },
  { "MQTT messages per poll (a watcher on #)", tostring(per_poll), "" },
  { "Enlighten requests per poll", tostring(requests_per_poll), "" },
})
