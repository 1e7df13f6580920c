--- The bridge's loop: one process, one thread. The Enlighten reads and
-- writes are engine operations (transport/engine.lua: coroutines whose
-- transfers run on enphase.core's multi handle); the broker connection is
-- enphase.mqtt's socket. Each turn runs what the engine has ready; while
-- transfers are in flight it waits on their sockets (engine.poll, at most
-- engine.IO_INTERVAL) and looks at the broker's in between; otherwise it
-- waits on the broker's socket for as long as the engine's timers, the next
-- poll and the reconnect allow. So a command is seen the moment it arrives
-- (within IO_INTERVAL during a transfer) and an idle bridge sleeps until
-- its next poll or keepalive.
local compat = require("enphase.util.compat")
local engine = require("enphase.transport.engine")
local native = require("enphase.transport.native")
local json = require("enphase.util.json")
local redact = require("enphase.util.redact")
local budget = require("enphase.account.budget")
local discovery = require("enphase.mqtt.discovery")
local state = require("enphase.mqtt.state")
local commands = require("enphase.mqtt.commands")

local M = {}

--- Reconnect waits: 1 s, doubled after each failure, at most this.
M.MAX_BACKOFF = 30
--- How long a started connection may take to bring the CONNACK (seconds).
M.CONNACK_WAIT = 10
--- How long a stopping bridge waits for the broker to take "offline".
M.STOP_WAIT = 2
--- A last error's state is cut to this (Home Assistant's state limit).
M.MAX_STATE = 255

-- The kinds after which Enlighten counts as unreachable for the entities.
local OFFLINE_KINDS = { auth = true, network = true, locked = true, mfa = true, http = true,
                        protocol = true }

local Bridge = {}
Bridge.__index = Bridge

--- A bridge. `settings`: enphase.mqtt.options' result; `deps`: `{mqtt=
-- (the C module), client= (an Enlighten client), log=fn(level, line),
-- version=, reload=fn() -> client, settings | nil, message}`.
function M.new(settings, deps)
  local self = setmetatable({
    s = settings,
    mqtt = deps.mqtt,
    client = deps.client,
    sink = deps.log or function() end,
    version = deps.version or "lua-enphase",
    reload = deps.reload,
    memory = state.memory(),
    values = {},
    backoff = 1,
    reconnect_at = 0,
    next_poll_at = 0,
    poll_every = settings.poll,
    per_poll = nil, -- requests a poll costs (the most seen)
    connected = false,
    ever_connected = false,
    published = 0, -- messages published, all told
    last_poll_messages = 0,
    polls = 0,
  }, Bridge)
  self.queue = commands.queue(function(command, done)
    self:start_command(command, done)
  end)
  return self
end

function Bridge:log(level, fmt, ...)
  local line = select("#", ...) > 0 and fmt:format(...) or fmt
  local secrets = { self.s.password }
  local client_secrets = self.client and self.client.ctx.secrets
  if client_secrets then
    for _, v in ipairs(client_secrets()) do
      secrets[#secrets + 1] = v
    end
  end
  compat.pcall(self.sink, level, redact.scrub(line, secrets))
end

-- ------------------------------------------------------------ broker

function Bridge:site()
  local id = self.client and self.client.ctx.site:ids()
  if id and not self.topics then
    self.topics = discovery.topics(self.s, id)
    self.site_id = id
  end
  return self.topics
end

function Bridge:publish(topic, payload, retain)
  if not self.connected then
    return false
  end
  local mid, err = self.mq:publish(topic, payload, 1, retain ~= false)
  if not mid then
    self:log("warn", "%s", err)
    return false
  end
  self.published = self.published + 1
  return true
end

-- Makes the libmosquitto client (credentials, last will, TLS) and starts
-- the connection; later calls reconnect the same client.
function Bridge:connect()
  if self.mq then
    return self.mq:reconnect()
  end
  local id = self.s.client_id or ("enphase-mqtt-" .. self.s.prefix:gsub("[^%w]", "-"))
  local mq, err, kind = self.mqtt.new(id, false)
  if not mq then
    return nil, err, kind
  end
  local b = self.s.broker
  local ok = true
  if b.user then
    ok, err, kind = mq:credentials(b.user, self.s.password)
  end
  if ok then
    ok, err, kind = mq:will(self.s.prefix .. "/status", "offline", 1, true)
  end
  if ok and b.tls then
    ok, err, kind = mq:tls(self.s.ca_file)
  end
  if not ok then
    mq:close()
    return nil, err, kind
  end
  self.mq = mq
  return mq:connect(b.host, b.port, self.s.keepalive)
end

function Bridge:schedule_reconnect(why)
  self.reconnect_at = native.monotonic() + self.backoff
  self:log("warn", "MQTT: %s; reconnecting in %d s", why, self.backoff)
  self.backoff = math.min(self.backoff * 2, M.MAX_BACKOFF)
end

-- Discovery, availability and every known state: after each CONNACK, and
-- when Home Assistant says it is back.
function Bridge:announce()
  local t = self:site()
  if not self.connected or not t then
    return
  end
  for _, m in ipairs(discovery.messages(self.s, self.site_id, self.version)) do
    self:publish(m.topic, m.payload, true)
  end
  self.memory:forget()
  if self.online ~= nil then
    self:publish(t.enlighten, self.online and "online" or "offline", true)
  end
  self:publish_values()
  self:publish_error()
end

function Bridge:subscribe_site()
  local t = self:site()
  if t and self.connected and not self.subscribed then
    self.subscribed = true
    self.mq:subscribe(t.base .. "/+/set", 1)
    self.mq:subscribe(t.base .. "/refresh/press", 1)
  end
end

function Bridge:on_connack(e)
  self.connecting = false
  if e.rc ~= 0 then
    local msg = ("the broker refused the connection: %s"):format(e.reason)
    if not self.ever_connected and (e.rc == 4 or e.rc == 5) then
      self.fatal = msg .. " (check the user in --broker and ENPHASE_MQTT_PASSWORD)"
      return
    end
    self.connected = false
    self:schedule_reconnect(msg)
    return
  end
  self.connected, self.ever_connected, self.backoff = true, true, 1
  self.subscribed = false
  self:log("info", "connected to %s:%d", self.s.broker.host, self.s.broker.port)
  self:publish(self.s.prefix .. "/status", "online", true)
  self.mq:subscribe(self.s.discovery_prefix .. "/status", 1)
  self:subscribe_site()
  self:announce()
end

function Bridge:on_message(e)
  local t = self:site()
  if e.topic == self.s.discovery_prefix .. "/status" then
    if e.payload == "online" then
      self:log("info", "%s says online: publishing discovery again", e.topic)
      self:announce()
    end
    return
  end
  if not t then
    return
  end
  local id = e.topic:sub(#t.base + 2):match("^([%w_]+)/set$")
    or (e.topic == t.base .. "/refresh/press" and "refresh")
  if not id then
    return
  end
  if e.retain then -- a retained command would run again at every connect
    self:command_error(id, "a retained command is ignored (publish commands without retain)")
    return
  end
  local command, err = commands.parse(id, e.payload, self.values)
  if not command then
    self:command_error(id, err)
    return
  end
  if command.setting == "refresh" then
    self.next_poll_at = 0
    return
  end
  self:log("info", "command %s", command.summary)
  self.queue:submit(command)
end

function Bridge:command_error(id, message)
  self:log("warn", "command %s refused: %s", id, message)
  self:set_error("input", message)
  self:publish_error()
  local t = self:site()
  if t and self.values[id] then -- the entity shows the real state again
    self:publish(t.state(id), self.values[id], true)
  end
end

-- ------------------------------------------------------------ state out

function Bridge:set_error(kind, message)
  self.last_error = { kind = kind, message = message, at = os.date("!%Y-%m-%dT%H:%M:%SZ") }
end

function Bridge:publish_error()
  local t = self:site()
  if not t then
    return
  end
  local e = self.last_error
  local text = e and redact.cut(("%s: %s"):format(e.kind, e.message), M.MAX_STATE) or "none"
  self:publish(t.state("last_error"), text, true)
  self:publish(t.attributes("last_error"), e and json.encode(e) or "{}", true)
end

-- Publishes every value (`all`), or those that changed.
function Bridge:publish_values(all)
  local t = self:site()
  if not t then
    return 0
  end
  local n = 0
  for _, e in ipairs(discovery.ENTITIES) do
    local v = self.values[e.id]
    if v ~= nil and e.id ~= "last_error" then
      local topic = t.state(e.id)
      if self.memory:changed(topic, v) or all then
        if self:publish(topic, v, true) then
          n = n + 1
        end
      end
    end
  end
  return n
end

function Bridge:set_online(on)
  local t = self:site()
  if self.online ~= on then
    self.online = on
    if t then
      self:publish(t.enlighten, on and "online" or "offline", true)
    end
  end
end

function Bridge:update_budget()
  local u = budget.usage(self.client)
  self.values.budget_left = tostring(math.max(0, u.limit - u.used))
  return u
end

-- ------------------------------------------------------------ Enlighten

-- The poll interval the budget share allows: a poll costing `per_poll`
-- requests may run `share * limit / per_poll` times per window.
function Bridge:fit_poll(per_poll, u)
  local allowed = u.limit * self.s.budget_share / 100
  local needed = per_poll * u.window / allowed
  local every = math.max(self.s.poll, needed)
  if math.abs(every - self.poll_every) > 0.5 and every > self.s.poll then
    self:log("info", "a poll costs %d requests: polling every %d s (not %d) keeps the polls within "
      .. "%g%% of the budget (%d per %d s)", per_poll, math.ceil(every), self.s.poll,
      self.s.budget_share, u.limit, u.window)
  end
  self.poll_every = every
end

-- The first poll of a client may log in (a few requests more): its cost
-- says nothing about the next ones.
local function first_of_client(polls)
  return polls == 1
end

function Bridge:start_poll()
  local client = self.client
  local before = budget.usage(client).used
  local was_known = self:site() ~= nil
  self.polling = true
  engine.spawn(function()
    return state.poll(client)
  end, function(values, failure, stopped)
    self.polling = false
    if client ~= self.client then
      return -- reloaded meanwhile
    end
    if type(values) ~= "table" then -- a Lua error in the poll: values is nil
      failure, values, stopped = { kind = "error", message = tostring(failure) }, {}, true
    end
    self.polls = self.polls + 1
    local published_before = self.published
    local u = self:update_budget()
    local spent = u.used - before
    if spent > 0 and not stopped and not first_of_client(self.polls) then
      self.per_poll = spent -- the latest poll's cost
      self:fit_poll(spent, u)
    end
    if not was_known and self:site() then
      self:subscribe_site()
      self:announce()
    end
    for k, v in pairs(values) do
      self.values[k] = v
    end
    if failure then
      self:log("warn", "poll: %s: %s", failure.kind, failure.message)
      self:set_error(failure.kind, failure.message)
      if stopped and OFFLINE_KINDS[failure.kind] then
        self:set_online(false)
      end
    else
      self:set_online(true)
    end
    self:publish_values(true)
    self:publish_error()
    self.last_poll_messages = self.published - published_before
    self.next_poll_at = native.monotonic() + self.poll_every
  end)
end

-- Applies what a write's read-back confirmed to the values (a profile
-- change the cloud holds as pending is not applied yet).
local function confirmed(values, readback, state_word)
  if state_word == "pending" then
    return
  end
  for id, v in pairs(readback) do
    values[id] = v
  end
end

function Bridge:start_command(command, done)
  local client = self.client
  local started = native.monotonic()
  engine.spawn(function()
    return command.run(client)
  end, function(ok, err, kind)
    self:update_budget()
    if ok then
      self:log("info", "%s done in %.2f s%s", command.summary, native.monotonic() - started,
        err and (" (" .. tostring(err) .. ")") or "")
      confirmed(self.values, command.readback or {}, err)
      self:set_online(true)
      for id in pairs(command.readback or {}) do -- the read-back, at once
        self.memory:changed(self.topics.state(id), self.values[id])
        self:publish(self.topics.state(id), self.values[id], true)
      end
    else
      self:log("warn", "%s failed: %s: %s", command.summary, tostring(kind), tostring(err))
      self:set_error(kind or "error", tostring(err))
      self:publish_error()
      if OFFLINE_KINDS[kind] and kind ~= "http" and kind ~= "protocol" then
        self:set_online(false)
      end
    end
    self:publish_values(not ok) -- on failure the entities show the real state again
    done()
  end)
end

-- ------------------------------------------------------------ the loop

function Bridge:handle_events()
  local events, lost = self.mq:events()
  if lost > 0 then
    self:log("warn", "broker: %d events dropped (no memory)", lost)
  end
  for _, e in ipairs(events) do
    if e.type == "connect" then
      self:on_connack(e)
    elseif e.type == "disconnect" then
      self.connecting = false
      local was = self.connected
      self.connected = false
      if not self.stopping and (was or e.rc ~= 0) then
        self:schedule_reconnect(e.reason)
      end
    elseif e.type == "message" then
      self:on_message(e)
    elseif e.type == "publish" then
      self.acked = e.mid
    end
  end
end

-- SIGHUP: once no poll or write runs, a new client from the reread config
-- replaces the old one (kept when the config is wrong).
function Bridge:reread()
  if not self.reload then
    return
  end
  if self.polling or self.queue:active() then
    self.reread_pending = true
    return
  end
  self.reread_pending = false
  local client, settings = self.reload()
  if not client then
    self:log("warn", "SIGHUP: the configuration was not reread: %s", tostring(settings))
    self:set_error("input", "configuration: " .. tostring(settings))
    self:publish_error()
    return
  end
  if self.client then
    self.client:close()
  end
  self.client, self.polls = client, 0
  local broker_changed = settings and settings.password ~= self.s.password
  if settings then
    settings.broker, settings.prefix = self.s.broker, self.s.prefix
    self.s.password = settings.password
  end
  self:log("info", "SIGHUP: configuration reread%s", broker_changed
    and "; reconnecting with the new broker password" or "")
  if broker_changed and self.mq then
    self.mq:close()
    self.mq, self.connected, self.connecting = nil, false, false
    self.reconnect_at = 0
  end
  self.next_poll_at = 0
end

-- Publishes "offline", waits (at most STOP_WAIT) for the broker to take it,
-- and disconnects.
function Bridge:stop()
  self.stopping = true
  if self.connected then
    local mid = self.mq:publish(self.s.prefix .. "/status", "offline", 1, true)
    local deadline = native.monotonic() + M.STOP_WAIT
    while mid and self.acked ~= mid and self.connected and native.monotonic() < deadline do
      self.mq:step(0.05)
      self:handle_events()
    end
    self.mq:disconnect()
    self.mq:step(0)
  end
  if self.mq then
    self.mq:close()
  end
  self:log("info", "stopped")
end

-- True while Enlighten transfers run (enphase.core is loaded by the first
-- engine operation; before that nothing can be in flight).
local function transfers_in_flight()
  local core = package.loaded["enphase.core"]
  return core ~= nil and core.pending() > 0
end

--- One turn of the loop: `max_wait` caps the wait (seconds).
function Bridge:turn(max_wait)
  local now = native.monotonic()
  if not self.connected and self.reconnect_at <= now then
    if self.connecting then -- started, and no CONNACK (nor a failure) since
      self.connecting = false
      self:schedule_reconnect("no answer from the broker within "
        .. M.CONNACK_WAIT .. " s")
    else
      local ok, err = self:connect()
      if not ok then
        self:schedule_reconnect(err)
      else
        self.connecting = true
        self.reconnect_at = now + M.CONNACK_WAIT
      end
    end
  end
  if not self.polling and now >= self.next_poll_at then
    self:start_poll()
  end
  engine.poll(0)
  if transfers_in_flight() then
    -- wait on the transfers' sockets (curl_multi_poll), a short while, and
    -- look at the broker's in between: an Enlighten request moves on the
    -- moment its socket does, a command is seen within IO_INTERVAL
    self:step_broker(0)
    engine.poll(math.min(max_wait or engine.IO_INTERVAL, engine.IO_INTERVAL))
    return
  end
  local wait = max_wait or 60
  local et = engine.next_timeout()
  if et then
    wait = math.min(wait, et)
  end
  if not self.polling then
    wait = math.min(wait, math.max(0, self.next_poll_at - native.monotonic()))
  end
  if not self.connected then
    wait = math.min(wait, math.max(0, self.reconnect_at - native.monotonic()))
  end
  wait = math.min(wait, self.s.keepalive / 2)
  self:step_broker(wait)
end

-- Waits at most `wait` seconds on the broker's socket, then handles what
-- came.
function Bridge:step_broker(wait)
  if self.mq then
    local ok, err = self.mq:step(wait)
    self:handle_events()
    if not ok and self.connecting then
      -- the connection failed before its CONNACK, after connect() returned
      -- (a TLS handshake the broker answered late, then refused): no
      -- disconnect event comes for it, so say why now and retry with
      -- backoff, rather than wait CONNACK_WAIT in silence
      self.connecting = false
      self:schedule_reconnect(err)
    elseif not ok and not self.connected then
      self:log("debug", "broker: %s", err)
    end
  elseif wait > 0 then
    native.sleep(math.min(wait, 1)) -- a signal is seen within a second
  end
end

--- Runs until SIGTERM/SIGINT (returns 0) or a fatal broker answer
-- (returns 1 and the message).
function Bridge:run()
  self.mqtt.signals()
  while true do
    local sig = self.mqtt.take_signal()
    if sig == "term" then
      self:stop()
      return 0
    elseif sig == "hup" or self.reread_pending then
      self:reread()
    end
    if self.fatal then
      self:stop()
      return 1, self.fatal
    end
    self:turn()
  end
end

return M
