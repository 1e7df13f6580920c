-- The bridge's options (enphase.mqtt.options): every bad one is refused with
-- a message naming it and what it accepts; the broker password never comes
-- from the URL.
local options = require("enphase.mqtt.options")

describe("enphase mqtt options", function()
  it("reads mqtt:// and mqtts:// URLs with a user, a host and a port", function()
    assert.same({ tls = false, host = "localhost", port = 1883 },
      options.parse_broker("mqtt://localhost"))
    assert.same({ tls = true, user = "ha", host = "broker.lan", port = 8884 },
      options.parse_broker("mqtts://ha@broker.lan:8884"))
    assert.same({ tls = false, host = "::1", port = 1883 }, options.parse_broker("mqtt://[::1]"))
    assert.same({ tls = true, host = "10.0.0.2", port = 8883 },
      options.parse_broker("mqtts://10.0.0.2/"))
  end)

  it("refuses other schemes, empty parts, bad ports and a password in the URL", function()
    local cases = {
      { "http://host", "must start with mqtt:// or mqtts://" },
      { "host:1883", "must start with mqtt:// or mqtts://" },
      { "mqtt://", "must start with mqtt://" },
      { "mqtt://@host", "the user name before '@' is empty" },
      { "mqtt://host:0", "the port must be 1%-65535" },
      { "mqtt://host:70000", "the port must be 1%-65535" },
      { "mqtt://host:port", "expected host or host:port" },
      { "mqtt://user:s3cret@host", "no password in the URL" },
    }
    for _, c in ipairs(cases) do
      local s, err = options.parse_broker(c[1])
      assert.is_nil(s, c[1])
      assert.matches(c[2], err)
      assert.falsy(err:find("s3cret", 1, true))
    end
  end)

  it("has the documented defaults", function()
    local s = assert(options.check({ broker = "mqtt://localhost" }))
    assert.same({ "enphase", "homeassistant", 60, 50 }, { s.prefix, s.discovery_prefix, s.poll,
      s.budget_share })
    assert.is_nil(s.password)
  end)

  it("names the option and what it accepts", function()
    local cases = {
      { {}, "%-%-broker is required" },
      { { broker = "mqtts://h" }, "mqtts:// needs %-%-ca%-file" },
      { { broker = "mqtt://h", ["ca-file"] = "x.pem" }, "%-%-ca%-file goes with an mqtts://" },
      { { broker = "mqtt://h", prefix = "a/#" }, "%-%-prefix must be a topic" },
      { { broker = "mqtt://h", prefix = "/a" }, "%-%-prefix must be a topic" },
      { { broker = "mqtt://h", ["discovery-prefix"] = "" }, "%-%-discovery%-prefix must be" },
      { { broker = "mqtt://h", prefix = "homeassistant" }, "must differ" },
      { { broker = "mqtt://h", poll = "5" }, "%-%-poll must be a number from 10 to 86400" },
      { { broker = "mqtt://h", poll = "soon" }, "%-%-poll must be a number" },
      { { broker = "mqtt://h", ["budget-share"] = "0" }, "%-%-budget%-share must be a number from 1" },
      { { broker = "mqtt://h", ["client-id"] = "a b" }, "%-%-client%-id must be" },
    }
    for _, c in ipairs(cases) do
      local s, err = options.check(c[1])
      assert.is_nil(s)
      assert.matches(c[2], err)
    end
  end)

  it("takes the broker password only with a user to go with it", function()
    local s, err = options.check({ broker = "mqtt://h" }, "pw")
    assert.is_nil(s)
    assert.matches("names no user", err)
    assert.falsy(err:find("pw", 1, true))
    s = assert(options.check({ broker = "mqtt://me@h" }, "pw"))
    assert.equal("pw", s.password)
    assert.equal("me", s.broker.user)
  end)
end)
