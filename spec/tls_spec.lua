-- HTTPS: the simulator serves TLS with a certificate from a test CA made
-- here (openssl, in a temporary directory); the client must verify it by
-- default, trust it through ca_file, and refuse a certificate for another
-- host name.
local simulator = require("helpers.sim")
local H = require("helpers.client")
local errors = require("enphase.errors")

local function contains(haystack, needle)
  assert.truthy(haystack:lower():find(needle:lower(), 1, true),
    ("%q does not mention %q"):format(haystack, needle))
end

-- fn() must return nil, a message and `kind` (nothing raised); returns the message.
local function fails(kind, fn)
  local r = table.pack(pcall(fn))
  assert.is_true(r[1], "raised: " .. tostring(r[2]))
  assert.is_nil(r[2], "expected a failure")
  assert.truthy(errors.kinds[r[4]], tostring(r[4]))
  assert.equal(kind, r[4], r[3])
  return r[3]
end

describe("HTTPS", function()
  local ca, sim, localhost_cert

  setup(function()
    ca = require("helpers.tls").new()
    localhost_cert = ca:server("localhost", { "DNS:localhost" })
    sim = simulator.start({ tls = localhost_cert })
  end)

  teardown(function()
    if sim then
      sim:stop()
    end
    ca:cleanup()
  end)

  before_each(function()
    sim:reset()
  end)

  local function https_client(extra)
    local opts = { base_url = sim.https_url }
    for k, v in pairs(extra or {}) do
      opts[k] = v
    end
    return H.new(sim, opts)
  end

  it("rejects the test CA's certificate by default, as network naming the certificate", function()
    local client = https_client()
    local msg = fails("network", function() return client:status() end)
    contains(msg, "certificate")
    assert.truthy(msg:find("SSL", 1, true) or msg:find("TLS", 1, true), msg)
    -- nothing got through: the handshake failed before any request
    assert.equal(0, #sim:log())
    client:close()
  end)

  it("logs in, reads status and settings and changes one over https with ca_file", function()
    local client = https_client({ ca_file = ca.ca })
    local st, err = client:status()
    assert.is_nil(err)
    assert.same({ "OK", H.SITE_ID, H.USER_ID }, { st.status, st.site_id, st.user_id })
    assert.truthy(client:settings())
    assert.is_true(client:charge_from_grid(true))
    assert.is_true(sim:state().accounts[1].settings.chargeFromGrid)
    assert.same({ "GET /login", "POST /login/login", "GET /app-api/jwt_token.json" },
      { H.lines(sim:log())[1], H.lines(sim:log())[2], H.lines(sim:log())[3] })
    -- one kept-alive TLS connection carried every request
    assert.equal(1, sim:state().connections)
    client:close()
  end)

  it("rejects a trusted certificate for another host name", function()
    local client = H.new(sim, { base_url = "https://127.0.0.1:" .. sim.https_port, ca_file = ca.ca })
    local msg = fails("network", function() return client:status() end)
    contains(msg, "127.0.0.1")
    assert.equal(0, #sim:log())
    client:close()
  end)

  it("rejects a trusted certificate issued to another name on the right address", function()
    local other = simulator.start({ tls = ca:server("enlighten.example.com",
      { "DNS:enlighten.example.com", "DNS:*.example.com" }) })
    local client = H.new(sim, { base_url = other.https_url, ca_file = ca.ca })
    local ok, msg, kind = client:status()
    local reached = #other:log()
    other:stop()
    assert.is_nil(ok)
    assert.equal("network", kind)
    contains(msg, "localhost")
    assert.equal(0, reached)
  end)

  it("skips verification only when asked, on loopback", function()
    local client = https_client({ verify_tls = false })
    assert.equal("OK", client:status().status)
    client:close()
  end)

  it("refuses a redirect from https down to http during discovery", function()
    local client = https_client({ ca_file = ca.ca })
    sim:fault({ path = "/", method = "GET", status = 302,
                headers = { Location = ("http://localhost:%d/web/%d/today"):format(sim.port, H.SITE_ID) } })
    local msg = fails("protocol", function() return client:status() end)
    contains(msg, "redirect")
    assert.equal(0, #sim:requests_matching("GET", "/web/"))
    assert.equal("OK", client:status().status)
    client:close()
  end)

  it("keeps serving after failed handshakes and plain HTTP on the TLS port", function()
    local before = sim:state().tls_failures
    local plain = H.new(sim, { base_url = "http://127.0.0.1:" .. sim.https_port, timeout = 2 })
    fails("network", function() return plain:status() end)
    fails("network", function() return https_client():status() end)
    assert.truthy(sim:state().tls_failures > before)
    local client = https_client({ ca_file = ca.ca })
    assert.equal("OK", client:status().status)
    client:close()
  end)
end)
