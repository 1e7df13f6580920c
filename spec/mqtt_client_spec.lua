-- enphase.mqtt, the C module over libmosquitto, in this process (so the
-- sanitizer pass and valgrind see it) against a real mosquitto: connect,
-- subscribe, publish, the events, the last will, and every failure as
-- `nil, message, kind`.
local brokers = require("helpers.broker")
local socket = require("socket")
local mqtt = require("enphase.mqtt")

-- Steps `c` until `test(events_so_far)` holds (at most 10 s). A failed
-- step (a refused or lost connection) is in `seen.failures`.
local function until_event(c, test, seen)
  seen = seen or { failures = {} }
  local deadline = socket.gettime() + 10
  while socket.gettime() < deadline do
    local ok, err, kind = c:step(0.05)
    if not ok then
      seen.failures[#seen.failures + 1] = { err, kind }
    end
    local events = c:events()
    for _, e in ipairs(events) do
      seen[#seen + 1] = e
    end
    local found = test(seen)
    if found then
      return found, seen
    end
  end
  error("no such event; seen " .. #seen)
end

local function of_type(kind, extra)
  return function(seen)
    for _, e in ipairs(seen) do
      if e.type == kind and (not extra or extra(e)) then
        return e
      end
    end
  end
end

local function connected(id, broker, user, pw, clean)
  local c = assert(mqtt.new(id, clean))
  assert(c:credentials(user or brokers.WATCHER, pw or brokers.WATCHER_PASSWORD))
  assert(c:connect("127.0.0.1", broker.watch_port, 30))
  local e = until_event(c, of_type("connect"))
  return c, e
end

describe("enphase.mqtt", function()
  local broker

  setup(function()
    broker = brokers.start()
  end)

  teardown(function()
    broker:close()
  end)

  it("connects, subscribes, publishes and receives, with QoS 1 acknowledged", function()
    local c, e = connected("spec-a", broker)
    assert.equal(0, e.rc)
    assert.is_true(c:connected())
    assert.matches("connected", tostring(c))
    assert.is_number(c:socket())
    local sub = assert(c:subscribe("spec/#", 1))
    local s = until_event(c, of_type("subscribe", function(x) return x.mid == sub end))
    assert.equal(1, s.qos)
    local mid = assert(c:publish("spec/x", "h\0llo", 1, false))
    local _, seen = until_event(c, of_type("message"))
    until_event(c, of_type("publish", function(x) return x.mid == mid end), seen)
    local m = of_type("message")(seen)
    assert.same({ "spec/x", "h\0llo", 1, false }, { m.topic, m.payload, m.qos, m.retain })
    c:disconnect()
    until_event(c, of_type("disconnect"))
    assert.is_false(c:connected())
    c:close()
    c:close() -- idempotent
    assert.matches("closed", tostring(c))
    local ok, err, kind = c:publish("spec/x", "late", 0, false)
    assert.same({ nil, "the MQTT client is closed", "input" }, { ok, err, kind })
  end)

  it("leaves its last will when it goes without a DISCONNECT", function()
    local c = assert(mqtt.new("spec-will", true))
    assert(c:credentials(brokers.WATCHER, brokers.WATCHER_PASSWORD))
    assert(c:will("spec/will", "gone", 1, true))
    assert(c:connect("127.0.0.1", broker.watch_port, 30))
    until_event(c, of_type("connect"))
    c:close() -- drops the socket: the broker publishes the will
    local deadline = socket.gettime() + 5
    local payload
    repeat
      payload = broker:retained("spec/will")
    until payload or socket.gettime() > deadline
    assert.equal("gone", payload)
  end)

  it("reports a refused login as a connect event with the broker's reason", function()
    local c = assert(mqtt.new("spec-bad", true))
    assert(c:credentials("nobody", "wrong"))
    assert(c:connect("127.0.0.1", broker.watch_port, 30))
    local e, seen = until_event(c, of_type("connect"))
    assert.equal(5, e.rc)
    assert.matches("not authori[sz]ed", e.reason)
    if #seen.failures == 0 then
      until_event(c, function()
        return #seen.failures > 0
      end, seen)
    end
    assert.same({ "broker: The connection was refused.", "protocol" }, seen.failures[1])
    assert.is_false(c:connected())
    c:close()
  end)

  it("answers bad arguments and unreachable brokers with nil, message, kind", function()
    local ok, err, kind = mqtt.new("", false)
    assert.same({ nil, "input" }, { ok, kind })
    assert.matches("needs a client id", err)
    local c = assert(mqtt.new("spec-refused", true))
    local port = brokers.free_port()
    ok, err, kind = c:connect("127.0.0.1", port, 30)
    if ok then -- the refusal may come later, as a disconnect
      local e = until_event(c, of_type("disconnect"))
      assert.is_true(e.rc ~= 0)
    else
      assert.equal("network", kind)
      assert.matches("127%.0%.0%.1:" .. port, err)
    end
    ok, err, kind = c:tls(nil)
    assert.same({ nil, "mqtts needs a CA file (--ca-file PEM)", "input" }, { ok, err, kind })
    ok, err, kind = c:tls("/nonexistent/ca.pem")
    assert.same({ nil, "input" }, { ok, kind })
    assert.matches("CA file /nonexistent/ca.pem", err)
    ok, err, kind = c:publish("bad/#", "x", 0, false)
    assert.same({ nil, "input" }, { ok, kind })
    assert.matches("publish bad/#", err)
    assert.has_error(function()
      c:publish("t", "x", 3, false)
    end)
    assert.has_error(function()
      c:connect("127.0.0.1", 0, 30)
    end)
    assert.is_string(mqtt.connack_string(5))
    assert.is_string(mqtt.strerror(14))
    assert.matches("^%d+%.%d+%.%d+$", mqtt.version())
    c:close()
  end)

  it("names the wrong argument in the error, and answers a closed client with nil, message, kind",
    function()
    local c = assert(mqtt.new("spec-args", true))
    local function raised(f)
      local ok, err = pcall(f)
      assert.is_false(ok)
      return err
    end
    assert.matches("topic: string expected, got nil", raised(function()
      c:publish(nil, "x", 0, false)
    end))
    assert.matches("payload: string expected, got table", raised(function()
      c:will("t", {}, 0, false)
    end))
    assert.matches("pattern: string expected, got boolean", raised(function()
      c:subscribe(true, 1)
    end))
    assert.matches("qos: 0, 1 or 2 expected, got string", raised(function()
      c:publish("t", "x", "high", false)
    end))
    assert.matches("QoS must be 0, 1 or 2", raised(function()
      c:subscribe("t/#", -1)
    end))
    -- a number is a string as Lua takes it; no QoS is 0
    local ok, err, kind = c:publish("bad/#", 42)
    assert.same({ nil, "input" }, { ok, kind })
    assert.matches("publish bad/#", err)
    assert.is_true(c:will(7, 8))
    c:close()
    local closed = { nil, "the MQTT client is closed", "input" }
    assert.same(closed, { c:will("t", "x", 1, true) })
    assert.same(closed, { c:subscribe("t/#", 1) })
    assert.same(closed, { c:reconnect() })
    assert.same(closed, { c:credentials("u", "p") })
    -- misuse still raises on a closed client
    assert.matches("topic: string expected", raised(function()
      c:publish(nil, "x")
    end))
  end)

  it("waits no longer than asked when nothing comes, and takes no signal by itself", function()
    local c = connected("spec-idle", broker)
    local t = socket.gettime()
    assert(c:step(0.2))
    assert.truthy(socket.gettime() - t < 1.5)
    assert.is_nil(mqtt.take_signal())
    c:close()
  end)
end)
