-- A policy reads time and waits through the client, so that the same code
-- runs on a virtual clock (enphase simulate) and on the wall clock.
local enphase = require("enphase")

describe("client:now() and client:sleep()", function()
  it("use the clock and sleep the client was given", function()
    local t, slept = 1700000000, {}
    local client = assert(enphase.new({
      email = "a@example.com", password = "pw", base_url = "http://127.0.0.1:9",
      clock = function()
        return t
      end,
      sleep = function(s)
        slept[#slept + 1] = s
        t = t + s
      end,
    }))
    assert.equal(1700000000, client:now())
    client:sleep(45)
    assert.same({ 45 }, slept)
    assert.equal(1700000045, client:now())
    client:close()
  end)

  it("default to the wall clock", function()
    local client = assert(enphase.new({ email = "a@example.com", password = "pw",
                                        base_url = "http://127.0.0.1:9" }))
    assert.is_true(math.abs(client:now() - os.time()) <= 2)
    client:close()
  end)
end)
