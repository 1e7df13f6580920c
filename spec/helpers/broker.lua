-- Debian's mosquitto for a spec, on free loopback ports with its own
-- config and persistence folder, and mosquitto_sub/mosquitto_pub to watch
-- and talk to it (the second client the specs observe through).
--
--   local broker = require("helpers.broker").start{ users = {bridge = "pw"} }
--   broker.port        the bridge's listener
--   broker.watch_port  the observers' listener (user M.WATCHER)
--   broker:stop()  broker:start_again{ only_watch = true }
--   local w = broker:watch("#")  w:lines()  w:wait_for(pattern, timeout)  w:stop()
--   broker:publish(topic, payload, {qos=1, retain=true})
--   broker:retained(topic) -> payload, retain flag ("1" or "0")
local socket = require("socket")
local procs = require("helpers.procs")

local M = {}

local quote = procs.shell_quote

--- The observers' account (mosquitto_sub / mosquitto_pub).
M.WATCHER, M.WATCHER_PASSWORD = "watcher", "watcher-pw"
local AUTH = ("-u %s -P %s"):format(M.WATCHER, M.WATCHER_PASSWORD)
-- the clients run without a sanitizer runtime the test run may have preloaded
local PUB = "env -u LD_PRELOAD mosquitto_pub " .. AUTH
local SUB = "env -u LD_PRELOAD mosquitto_sub " .. AUTH

--- A TCP port nobody listens on now (the kernel's pick, released).
M.free_port = require("helpers.fixture").free_port

local Broker = {}
Broker.__index = Broker

local function listening(port)
  local c = socket.tcp()
  c:settimeout(0.2)
  local ok = c:connect("127.0.0.1", port)
  c:close()
  return ok ~= nil
end

-- Writes the config: the bridge's listener unless `only_watch`, and the
-- observers'. One set of settings for both (not per listener), so that a
-- restart with one listener keeps the sessions of the other's clients.
function Broker:write_config(only_watch)
  local lines = {
    -- run as root, mosquitto would switch to the user "mosquitto", who
    -- cannot read this private folder: stay who we are
    "user " .. procs.capture("id -un"):gsub("%s+$", ""),
    "persistence true",
    "persistence_location " .. self.dir .. "/",
    "log_dest file " .. self.dir .. "/broker.log",
    "log_type error",
    "log_type warning",
    "log_type notice",
    "allow_anonymous false",
    "password_file " .. self.dir .. "/passwords",
  }
  if not only_watch then
    lines[#lines + 1] = ("listener %d 127.0.0.1"):format(self.port)
    if self.tls then -- the bridge's listener speaks TLS only
      lines[#lines + 1] = "certfile " .. self.tls.cert
      lines[#lines + 1] = "keyfile " .. self.tls.key
    end
  end
  lines[#lines + 1] = ("listener %d 127.0.0.1"):format(self.watch_port)
  procs.spit(self.dir .. "/mosquitto.conf", table.concat(lines, "\n") .. "\n", "600")
end

function Broker:launch(only_watch)
  self:write_config(only_watch)
  local out = procs.capture(("env -u LD_PRELOAD mosquitto -c %s >>%s 2>&1 </dev/null & echo $!"):format(
    quote(self.dir .. "/mosquitto.conf"), quote(self.dir .. "/stderr.log")))
  self.pid = assert(tonumber(out:match("%d+")), "mosquitto did not start")
  local deadline = socket.gettime() + 10
  while socket.gettime() < deadline do
    if listening(self.watch_port) and (only_watch or listening(self.port)) then
      return self
    end
    socket.sleep(0.02)
  end
  error("mosquitto did not listen: " .. (procs.slurp(self.dir .. "/stderr.log") or "")
    .. (procs.slurp(self.dir .. "/broker.log") or ""))
end

--- Starts mosquitto. opts.users: name -> password (beside the watcher);
-- opts.tls: {cert=, key=} (PEM files) to serve the bridge's listener over TLS.
function M.start(opts)
  opts = opts or {}
  local self = setmetatable({ dir = procs.tmpdir("broker"), port = M.free_port(),
    watch_port = M.free_port(), users = opts.users, tls = opts.tls, watchers = {} }, Broker)
  local pwfile = self.dir .. "/passwords"
  procs.spit(pwfile, "", "600")
  local users = { [M.WATCHER] = M.WATCHER_PASSWORD }
  for user, pw in pairs(opts.users or {}) do
    users[user] = pw
  end
  for user, pw in pairs(users) do
    assert(os.execute(("mosquitto_passwd -b %s %s %s >/dev/null 2>&1"):format(quote(pwfile),
      quote(user), quote(pw))))
  end
  return self:launch(false)
end

--- Stops mosquitto (SIGTERM: it saves its persistence file) and waits.
function Broker:stop()
  if self.pid then
    os.execute("kill " .. self.pid .. " 2>/dev/null")
    local deadline = socket.gettime() + 10
    while socket.gettime() < deadline and os.execute("kill -0 " .. self.pid .. " 2>/dev/null") do
      socket.sleep(0.02)
    end
    self.pid = nil
  end
end

--- Starts it again on the same ports with the same persistence;
-- opts.only_watch: the observers' listener only (the bridge cannot connect).
function Broker:start_again(opts)
  self:stop()
  return self:launch(opts and opts.only_watch)
end

--- Stops everything and removes the folder.
function Broker:close()
  for _, w in ipairs(self.watchers) do
    w:stop()
  end
  self:stop()
  procs.rmdir(self.dir)
end

function Broker:publish(topic, payload, opts)
  opts = opts or {}
  local cmd = ("%s -p %d -t %s -m %s -q %d %s"):format(PUB, self.watch_port, quote(topic),
    quote(payload), opts.qos or 1, opts.retain and "-r" or "")
  assert(os.execute(cmd), cmd)
end

--- The retained message of `topic`: payload and "1"/"0" (the retain flag
-- as a new subscriber sees it), or nil.
function Broker:retained(topic)
  local out = procs.capture(("%s -p %d -t %s -C 1 -W 2 -F '%%r %%p' 2>/dev/null")
    :format(SUB, self.watch_port, quote(topic)))
  local flag, payload = out:match("^(%d) (.-)\n?$")
  return payload, flag
end

-- ------------------------------------------------------------ observers

local Watch = {}
Watch.__index = Watch

--- A mosquitto_sub on `pattern` writing "topic payload" lines to a file.
function Broker:watch(pattern)
  local n = #self.watchers + 1
  local file = ("%s/watch%d.log"):format(self.dir, n)
  local out = procs.capture(("%s -p %d -t %s -v -q 1 >%s 2>&1 </dev/null & echo $!")
    :format(SUB, self.watch_port, quote(pattern), quote(file)))
  local w = setmetatable({ pid = tonumber(out:match("%d+")), file = file }, Watch)
  self.watchers[n] = w
  socket.sleep(0.2) -- its SUBSCRIBE reaches the broker
  return w
end

--- Every line so far, as {topic=, payload=}.
function Watch:lines()
  local list = {}
  for line in (procs.slurp(self.file) or ""):gmatch("[^\n]+") do
    local topic, payload = line:match("^(%S+) ?(.*)$")
    list[#list + 1] = { topic = topic, payload = payload }
  end
  return list
end

--- The messages on `topic` so far (payloads, in order).
function Watch:on(topic)
  local out = {}
  for _, l in ipairs(self:lines()) do
    if l.topic == topic then
      out[#out + 1] = l.payload
    end
  end
  return out
end

--- Waits (at most `timeout` seconds, default 15) until `test(lines)` holds;
-- returns its value, or raises with the lines seen.
function Watch:wait_until(test, timeout, what)
  local deadline = socket.gettime() + (timeout or 15)
  repeat
    local v = test(self:lines())
    if v then
      return v
    end
    socket.sleep(0.05)
  until socket.gettime() > deadline
  local seen = {}
  for _, l in ipairs(self:lines()) do
    seen[#seen + 1] = l.topic .. " " .. l.payload:sub(1, 80)
  end
  error(("timed out waiting for %s; seen:\n%s"):format(what or "a message",
    table.concat(seen, "\n")), 2)
end

--- Waits until `topic` has carried `payload` at least `count` times (1).
function Watch:wait_for(topic, payload, count, timeout)
  return self:wait_until(function(lines)
    local n = 0
    for _, l in ipairs(lines) do
      if l.topic == topic and (payload == nil or l.payload == payload) then
        n = n + 1
      end
    end
    return n >= (count or 1)
  end, timeout, ("%s %s (x%d)"):format(topic, tostring(payload), count or 1))
end

function Watch:stop()
  if self.pid then
    os.execute("kill " .. self.pid .. " 2>/dev/null")
    self.pid = nil
  end
end

return M
