-- The retry policy against injected faults: re-login on 401, new XSRF on
-- 403, Retry-After on 429, bounded back-off on 5xx and network faults.
local simulator = require("helpers.sim")
local H = require("helpers.client")

local BC = "/service/batteryConfig/api/v1"
local SETTINGS = BC .. "/batterySettings/" .. H.SITE_ID
local ISVALID = BC .. "/battery/sites/" .. H.SITE_ID .. "/schedules/isValid"

describe("the retry policy", function()
  local sim = simulator.for_file(_ENV)
  local client, probe, mark

  before_each(function()
    client, probe = H.new(sim)
    assert.truthy(client:status())
    assert.truthy(client:site_settings())
    assert.truthy(client:settings()) -- the control objects (issue 18), read once
    mark = #sim:log()
    probe.sleeps = {}
  end)

  after_each(function()
    client:close()
  end)

  local function sent()
    return H.lines(H.since(sim, mark))
  end

  it("answers a 401 on a JWT it thought valid with one re-login, then succeeds", function()
    sim:fault({ match = SETTINGS, method = "GET", action = "status", status = 401 })
    local s, err = client:settings()
    assert.is_nil(err)
    assert.is_table(s)
    assert.equal(2, sim:state().logins)
    assert.same({}, probe.sleeps)
  end)

  it("answers a 403 with a new XSRF token, then succeeds", function()
    sim:fault({ match = SETTINGS, method = "PUT", action = "status", status = 403 })
    assert.is_true(client:discharge_to_grid(true))
    assert.same({ "POST " .. ISVALID, "PUT " .. SETTINGS, "POST " .. ISVALID,
                  "POST " .. ISVALID, "PUT " .. SETTINGS, "GET " .. SETTINGS }, sent())
    assert.equal(1, sim:state().logins)
  end)

  it("waits as long as Retry-After asks on a 429", function()
    sim:fault({ match = SETTINGS, method = "GET", action = "status", status = 429, retry_after = 7 })
    assert.is_table(client:settings())
    assert.same({ 7 }, probe.sleeps)
  end)

  it("backs off on a 429 without Retry-After", function()
    sim:fault({ match = SETTINGS, method = "GET", action = "status", status = 429 })
    assert.is_table(client:settings())
    assert.equal(1, #probe.sleeps)
    assert.is_true(probe.sleeps[1] >= 0.5 and probe.sleeps[1] <= 1)
  end)

  it("retries a 503 twice with growing, jittered waits, then succeeds", function()
    sim:fault({ match = SETTINGS, method = "GET", action = "status", status = 503, count = 2 })
    assert.is_table(client:settings())
    assert.equal(2, #probe.sleeps)
    assert.is_true(probe.sleeps[1] >= 0.5 and probe.sleeps[1] <= 1)
    assert.is_true(probe.sleeps[2] >= 1 and probe.sleeps[2] <= 2)
    assert.equal(3, #sent())
  end)

  it("gives up after the attempts allowed and reports the status as http", function()
    sim:fault({ match = SETTINGS, method = "GET", action = "status", status = 503, count = 5 })
    local s, err, kind = client:settings()
    assert.is_nil(s)
    assert.equal("http", kind)
    assert.truthy(err:find("HTTP 503", 1, true))
    assert.equal(3, #sent())
    assert.equal(2, #probe.sleeps)
  end)

  it("honours a different number of attempts", function()
    local patient, p2 = H.new(sim, { attempts = 5 })
    assert.truthy(patient:status())
    sim:fault({ match = SETTINGS, method = "GET", action = "status", status = 502, count = 4 })
    assert.is_table(patient:settings())
    assert.equal(4, #p2.sleeps)
  end)

  it("retries a settings PUT only from its isValid step", function()
    sim:fault({ match = SETTINGS, method = "PUT", action = "status", status = 503 })
    assert.is_true(client:charge_from_grid(true))
    assert.same({ "POST " .. ISVALID, "PUT " .. SETTINGS, "POST " .. ISVALID, "PUT " .. SETTINGS,
                  "GET " .. SETTINGS }, sent())
  end)

  it("retries after a connection closed without an answer", function()
    sim:fault({ match = SETTINGS, method = "GET", action = "close" })
    assert.is_table(client:settings())
    assert.equal(1, #probe.sleeps)
  end)

  it("never retries a 400", function()
    sim:fault({ match = SETTINGS, method = "GET", action = "status", status = 400,
                body = '{"message":"bad request"}' })
    local s, err, kind = client:settings()
    assert.is_nil(s)
    assert.equal("http", kind)
    assert.truthy(err:find("HTTP 400 (bad request)", 1, true))
    assert.equal(1, #sent())
  end)

  it("never retries a refused login", function()
    local wrong = H.new(sim, { password = "nope" })
    local _, _, kind = wrong:settings()
    assert.equal("auth", kind)
    _, _, kind = wrong:charge_from_grid(true)
    assert.equal("auth", kind)
    assert.equal(1, #sim:requests_matching("POST", "/login/login") - 1)
  end)
end)
