-- Commands from MQTT (enphase.mqtt.commands): payloads checked the way the
-- CLI checks the same words, and one write per setting with the last
-- command winning.
local commands = require("enphase.mqtt.commands")
local validate = require("enphase.battery.validate")

describe("enphase mqtt commands", function()
  it("reads a reserve exactly as `enphase reserve N` does", function()
    for _, word in ipairs({ "0", "35", "100", "35.0", "101", "-1", "35.5", "abc", "" }) do
      local c, err = commands.parse("reserve", word, {})
      local _, cli_err = validate.integer("reserve", validate.number_word(word), 0, 100)
      if cli_err then
        assert.is_nil(c, word)
        assert.equal(cli_err, err)
      else
        assert.equal("profile", c.setting)
        assert.same({ reserve = tostring(math.floor(tonumber(word))) }, c.readback)
      end
    end
  end)

  it("takes ON/OFF (and the CLI's on/off) for the switches, and names what it refused", function()
    for _, id in ipairs({ "charge_from_grid", "discharge_to_grid", "restrict_discharge",
                          "storm_guard" }) do
      assert.same({ [id] = "ON" }, commands.parse(id, "ON", {}).readback)
      assert.same({ [id] = "OFF" }, commands.parse(id, "off", {}).readback)
      local c, err = commands.parse(id, "1", {})
      assert.is_nil(c)
      assert.equal(id .. ': payload must be ON or OFF (got "1")', err)
    end
  end)

  it("checks the profile with the library's rule and refuses unknown entities", function()
    assert.equal("profile", commands.parse("profile", "backup_only", {}).setting)
    local c, err = commands.parse("profile", "fastest", {})
    assert.is_nil(c)
    assert.matches("profile must be one of self%-consumption", err)
    c, err = commands.parse("soc", "50", {})
    assert.is_nil(c)
    assert.matches('no command for "soc"', err)
    c, err = commands.parse("refresh", "NOW", {})
    assert.is_nil(c)
    assert.matches("payload must be PRESS", err)
    c, err = commands.parse("reserve", ("9"):rep(100), {})
    assert.is_nil(c)
    assert.matches("not a command", err)
  end)

  it("runs one write per setting; while it runs the newest command replaces the waiting one",
    function()
      local started, finish = {}, {}
      local q = commands.queue(function(command, done)
        started[#started + 1] = command.summary
        finish[command.setting] = done
      end)
      local on = commands.parse("charge_from_grid", "ON", {})
      local off = commands.parse("charge_from_grid", "OFF", {})
      local on2 = commands.parse("charge_from_grid", "ON", {})
      local reserve = commands.parse("reserve", "30", {})
      assert.equal("started", q:submit(on))
      assert.equal("queued", q:submit(off))
      assert.equal("queued", q:submit(on2))
      assert.equal("started", q:submit(reserve)) -- another setting goes at once
      assert.same({ "charge_from_grid ON", "reserve 30" }, started)
      assert.equal(1, q.replaced)
      finish.charge_from_grid()
      assert.same({ "charge_from_grid ON", "reserve 30", "charge_from_grid ON" }, started)
      finish.charge_from_grid()
      finish.profile()
      assert.is_false(q:active())
    end)
end)
