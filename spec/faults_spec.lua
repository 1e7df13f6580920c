-- Fault injection: every fault the simulator can stage, against a real
-- client. Each case asserts a clean failure (`nil, message, kind` with a kind
-- from enphase.errors, nothing raised), and that the next call succeeds once
-- the fault is gone.
local socket = require("socket")
local simulator = require("helpers.sim")
local H = require("helpers.client")
local jwt = require("enphase.sim.jwt")
local errors = require("enphase.errors")
local options = require("enphase.util.options")

local BC = "/service/batteryConfig/api/v1"
local SETTINGS = BC .. "/batterySettings/" .. H.SITE_ID
local ISVALID = BC .. "/battery/sites/" .. H.SITE_ID .. "/schedules/isValid"
local JWT_PATH = "/app-api/jwt_token.json"
local DATA_PATH = "/app-api/" .. H.SITE_ID .. "/data.json"

-- Calls fn; asserts it neither raised nor succeeded, and returned exactly
-- nil, a non-empty message and `kind`. Returns the message.
local function fails(kind, fn)
  local r = table.pack(pcall(fn))
  assert.is_true(r[1], "raised: " .. tostring(r[2]))
  assert.is_nil(r[2], "expected a failure, got " .. tostring(r[2]))
  local msg, k = r[3], r[4]
  assert.is_string(msg)
  assert.truthy(#msg > 0)
  assert.truthy(errors.kinds[k], "not a documented kind: " .. tostring(k))
  assert.equal(kind, k, msg)
  return msg
end

local function contains(haystack, needle)
  assert.truthy(haystack:lower():find(needle:lower(), 1, true),
    ("%q does not mention %q"):format(haystack, needle))
end

-- A JWT in the real format with the given payload.
local function token_with(payload)
  return jwt.build(payload)
end

describe("fault injection", function()
  local sim = simulator.for_file(_ENV)

  -- A client that has logged in and read the settings once (warm: JWT, ids,
  -- XSRF token and a kept-alive connection).
  local function warm(extra)
    local client, probe = H.new(sim, extra)
    assert.truthy(client:status())
    assert.truthy(client:settings())
    probe.sleeps = {}
    return client, probe
  end

  local function clear()
    sim:fault({ clear = true })
  end

  -- ------------------------------------------------------------ the controls

  describe("the simulator's fault controls", function()
    it("match an exact path, answer raw bytes, and check their fields", function()
      sim:fault({ path = "/", status = 500 })
      assert.equal(200, sim:request("GET", "/login").status)
      assert.equal(500, sim:request("GET", "/").status)
      sim:fault({ path = "/login", action = "raw", body = "HELLO\r\n" })
      local sock = socket.tcp()
      sock:settimeout(2)
      assert(sock:connect("127.0.0.1", sim.port))
      sock:send(simulator.build_request("GET", "/login"))
      assert.equal("HELLO\r\n", sock:receive("*a"))
      sock:close()
      for _, bad in ipairs({ { path = 5 }, { action = "raw" }, { action = "close", rst = "yes" } }) do
        assert.has_error(function() sim:fault(bad) end)
      end
    end)

    it("revoke JWTs and XSRF tokens of one account or all", function()
      local t = assert(sim:tokens())
      assert.same({ ok = true, jwts = 1, xsrf = 1 }, sim:revoke({ email = "demo@example.com" }))
      assert.equal(401, sim:bc(t, "GET", "/batterySettings/" .. H.SITE_ID .. "?userId="
        .. H.USER_ID .. "&source=enlm").status)
      assert.same({ ok = true, jwts = 0, xsrf = 0 }, sim:revoke({ jwt = true, xsrf = false }))
      assert.has_error(function() sim:revoke({ email = "nobody@example.com" }) end)
    end)

    it("refuse connections for a while, then listen on the same port", function()
      assert.has_error(function() sim:refuse(0) end)
      sim:refuse(0.3)
      local res, err = sim:request("GET", "/login", { timeout = 1 })
      assert.is_nil(res)
      assert.equal("connection refused", err)
      sim:wait_listening()
      assert.equal(200, sim:request("GET", "/login").status)
      assert.is_false(sim:state().refusing)
    end)
  end)

  -- ------------------------------------------------------------ transport

  describe("transport", function()
    it("reports a refused connection as network, and works once the server listens again", function()
      local client = warm()
      sim:refuse(0.5)
      local msg = fails("network", function() return client:settings() end)
      contains(msg, "connect")
      local fresh = H.new(sim)
      fails("network", function() return fresh:status() end)
      sim:wait_listening()
      assert.truthy(client:settings())
      assert.equal("OK", fresh:status().status)
    end)

    it("reports a connection closed mid-body as network, then recovers", function()
      local client = warm()
      sim:fault({ path = SETTINGS, method = "GET", action = "reset_mid_body", count = 3 })
      local msg = fails("network", function() return client:settings() end)
      contains(msg, "GET " .. SETTINGS)
      assert.truthy(client:settings())
    end)

    it("reports a connection reset (RST) mid-body as network, then recovers", function()
      local client = warm()
      sim:fault({ path = SETTINGS, method = "GET", action = "reset_mid_body", rst = true, count = 3 })
      fails("network", function() return client:settings() end)
      assert.truthy(client:settings())
    end)

    it("reports a reset before any answer, during login, as network, then logs in", function()
      local client = H.new(sim)
      sim:fault({ path = "/login", method = "GET", action = "close", rst = true })
      fails("network", function() return client:status() end)
      assert.equal("OK", client:status().status)
    end)

    it("reports an answer that is not HTTP as network, then recovers", function()
      local client = warm()
      sim:fault({ path = SETTINGS, method = "GET", action = "raw", count = 3,
                  body = "SSH-2.0-OpenSSH_9.2\r\n\r\n" })
      fails("network", function() return client:settings() end)
      assert.truthy(client:settings())
    end)

    -- The timeouts below are 2 s: `timeout` bounds every answer of the test,
    -- the login's and the recovery's too, and a loaded machine's simulator
    -- did not always answer within 0.5 s. A timed-out wait has a floor no
    -- load can lower (the timeout) and a ceiling far below the 30 s default.
    it("gives up on a server that accepts and never answers after `timeout`", function()
      local client = warm({ timeout = 2, attempts = 1 })
      sim:fault({ path = SETTINGS, method = "GET", action = "hang" })
      local t0 = socket.gettime()
      local msg = fails("network", function() return client:settings() end)
      local took = socket.gettime() - t0
      contains(msg, "timeout")
      assert.truthy(took >= 1.9 and took < 2 + 15, "took " .. took)
      assert.truthy(client:settings())
    end)

    it("retries a hung request within `attempts`, each bounded by `timeout`", function()
      -- two hung attempts cannot end before 2 * timeout; the answer after
      -- them comes within the third's
      local timeout = 2
      local client, probe = warm({ timeout = timeout })
      local from = #sim:log()
      sim:fault({ path = SETTINGS, method = "GET", action = "hang", count = 2 })
      local t0 = socket.gettime()
      assert.truthy(client:settings())
      local took = socket.gettime() - t0
      assert.equal(2, #probe.sleeps)
      local tries = H.since(sim, from)
      assert.same({ "GET " .. SETTINGS, "GET " .. SETTINGS, "GET " .. SETTINGS }, H.lines(tries))
      assert.same({ "hang", "hang" }, { tries[1].fault, tries[2].fault, tries[3].fault })
      assert.truthy(took >= 2 * timeout - 0.1 and took < 2 * timeout + 15, "took " .. took)
    end)

    it("bounds the connect phase by connect_timeout, separately from timeout", function()
      -- a listener whose accept queue is full: the kernel drops new SYNs,
      -- so connect() never completes
      local full = assert(socket.bind("127.0.0.1", 0, 0))
      local _, port = full:getsockname()
      local fillers = {}
      for i = 1, 4 do
        fillers[i] = socket.tcp()
        fillers[i]:settimeout(0)
        fillers[i]:connect("127.0.0.1", port)
      end
      socket.sleep(0.05)
      local client = H.new(sim, { base_url = "http://127.0.0.1:" .. port, connect_timeout = 0.3,
                                  timeout = 20 })
      local t0 = socket.gettime()
      local msg = fails("network", function() return client:status() end)
      local took = socket.gettime() - t0
      for _, f in ipairs(fillers) do
        f:close()
      end
      full:close()
      contains(msg, "connect")
      assert.truthy(took >= 0.25 and took < 5, "took " .. took)
    end)

    it("defaults to a 30 s timeout and a separate 10 s connect timeout", function()
      local cfg = assert(options.check({ email = "a@b.c", password = "x" }))
      assert.equal(30, cfg.timeout)
      assert.equal(10, cfg.connect_timeout)
      assert.equal(4 * 1024 * 1024, cfg.max_body)
    end)

    it("reads a slow body that ends within the timeout", function()
      local client = warm({ timeout = 3 })
      sim:fault({ path = SETTINGS, method = "GET", action = "slow_body", delay = 0.4 })
      local t0 = socket.gettime()
      assert.truthy(client:settings())
      assert.truthy(socket.gettime() - t0 >= 0.35)
    end)

    it("gives up on a body slower than the timeout, as network, then recovers", function()
      -- the body takes 6 s at least, however loaded the machine: the client
      -- gives up at its 2 s timeout, before the body could have ended
      local client = warm({ timeout = 2, attempts = 1 })
      sim:fault({ path = SETTINGS, method = "GET", action = "slow_body", delay = 6 })
      local t0 = socket.gettime()
      local msg = fails("network", function() return client:settings() end)
      local took = socket.gettime() - t0
      contains(msg, "timeout")
      assert.truthy(took >= 1.9 and took < 6, "took " .. took)
      assert.truthy(client:settings())
    end)
  end)

  -- ------------------------------------------------------------ statuses

  describe("HTTP statuses", function()
    for _, status in ipairs({ 500, 502, 503, 504 }) do
      it("reports a lasting " .. status .. " as http after the retries, then recovers", function()
        local client, probe = warm()
        sim:fault({ path = SETTINGS, method = "GET", status = status, count = 3 })
        local msg = fails("http", function() return client:settings() end)
        contains(msg, "HTTP " .. status)
        assert.equal(2, #probe.sleeps)
        assert.truthy(client:settings())
      end)

      it("reports a " .. status .. " on the login page as http, then logs in", function()
        local client = H.new(sim)
        sim:fault({ path = "/login", method = "GET", status = status })
        local msg = fails("http", function() return client:status() end)
        contains(msg, "HTTP " .. status)
        assert.equal("OK", client:status().status)
      end)
    end

    it("reports a 500 on the login POST as http (no verdict on the password), then logs in", function()
      local client = H.new(sim)
      sim:fault({ path = "/login/login", method = "POST", status = 500 })
      fails("http", function() return client:status() end)
      assert.equal("OK", client:status().status)
    end)

    it("reports a 429 on the login POST as locked, and logs in when forced", function()
      local client = H.new(sim)
      sim:fault({ path = "/login/login", method = "POST", status = 429, retry_after = 60 })
      fails("locked", function() return client:status() end)
      -- a refusal is not retried by itself, nor by a plain login(): only a forced one
      fails("locked", function() return client:status() end)
      fails("locked", function() return client:login() end)
      assert.equal(1, #sim:requests_matching("POST", "/login/login"))
      assert.is_true(client:login({ force = true }))
      assert.equal("OK", client:status().status)
    end)

    it("reports a 502 on jwt_token.json as http, then logs in", function()
      local client = H.new(sim)
      sim:fault({ path = JWT_PATH, status = 502 })
      fails("http", function() return client:status() end)
      assert.equal("OK", client:status().status)
    end)

    it("waits Retry-After on each 429, then reports a lasting one as http", function()
      local client, probe = warm()
      sim:fault({ path = SETTINGS, method = "GET", status = 429, retry_after = 7, count = 3 })
      local msg = fails("http", function() return client:settings() end)
      contains(msg, "HTTP 429")
      assert.same({ 7, 7 }, probe.sleeps)
      assert.truthy(client:settings())
    end)

    it("caps a huge Retry-After at max_retry_after", function()
      local client, probe = warm()
      sim:fault({ path = SETTINGS, method = "GET", status = 429, retry_after = 86400 })
      assert.truthy(client:settings())
      assert.same({ 120 }, probe.sleeps)
    end)

    it("backs off on a 429 without Retry-After, then reports a lasting one as http", function()
      local client, probe = warm()
      sim:fault({ path = SETTINGS, method = "GET", status = 429, count = 3 })
      fails("http", function() return client:settings() end)
      assert.equal(2, #probe.sleeps)
      assert.truthy(probe.sleeps[1] > 0 and probe.sleeps[1] <= 1)
      assert.truthy(client:settings())
    end)

    it("ignores a Retry-After that is not a number of seconds", function()
      local client, probe = warm()
      sim:fault({ path = SETTINGS, method = "GET", status = 429, retry_after = "soon" })
      assert.truthy(client:settings())
      assert.equal(1, #probe.sleeps)
      assert.truthy(probe.sleeps[1] <= 1)
    end)

    it("renews a JWT the server forgot (401 on a token the client thinks valid)", function()
      local client = warm()
      local before = client:tokens().token
      sim:revoke({ jwt = true })
      assert.truthy(client:settings())
      assert.are_not.equal(before, client:tokens().token)
      -- from the web session, or (when the new JWT has the same exp, as one
      -- minted within the same second does) one new login; never more
      assert.truthy(sim:state().logins <= 2)
      assert.equal(1, #sim:requests_matching("GET", "/batterySettings/") - 2)
    end)

    it("logs in again when both the JWT and the web session are gone", function()
      local client = warm()
      sim:revoke({ jwt = true })
      sim:clear_sessions()
      assert.truthy(client:settings())
      assert.equal(2, sim:state().logins)
    end)

    it("reports a 401 that survives a renewal as http, then recovers", function()
      local client = warm()
      sim:fault({ path = SETTINGS, method = "GET", status = 401, count = 2 })
      local msg = fails("http", function() return client:settings() end)
      contains(msg, "HTTP 401")
      assert.truthy(client:settings())
    end)

    it("fetches a new XSRF token when the server forgot the old one (403)", function()
      local client = warm()
      local mark = #sim:requests_matching("POST", ISVALID)
      sim:revoke({ xsrf = true })
      assert.is_true(client:charge_from_grid(true))
      -- the refused isValid, the token fetch, the isValid again
      assert.equal(mark + 3, #sim:requests_matching("POST", ISVALID))
      assert.is_true(sim:state().accounts[1].settings.chargeFromGrid)
      assert.equal(1, sim:state().logins)
    end)

    it("reports a 403 that survives new tokens as http, then recovers", function()
      local client = warm()
      -- new XSRF token, siteSettings' header token (issue 18), new JWT: 4 tries
      sim:fault({ path = SETTINGS, method = "PUT", status = 403, count = 4 })
      local msg = fails("http", function() return client:charge_from_grid(true) end)
      contains(msg, "HTTP 403")
      assert.is_true(client:charge_from_grid(true))
    end)
  end)

  -- ------------------------------------------------------------ writes cut short

  describe("a write whose answer is cut after the server applied it", function()
    local SCHEDULES = BC .. "/battery/sites/" .. H.SITE_ID .. "/schedules"
    local CFG = { type = "CFG", start_time = "02:00", end_time = "03:00", days = { 1 },
                  timezone = "Europe/London" }

    it("is reported with a documented kind, and the schedule exists exactly once", function()
      local client = warm()
      sim:fault({ path = SCHEDULES, method = "POST", action = "reset_mid_body" })
      local r = table.pack(pcall(client.add_schedule, client, CFG))
      assert.is_true(r[1], tostring(r[2]))
      if r[2] == nil then
        assert.truthy(errors.kinds[r[4]], tostring(r[4]))
      end
      assert.equal(1, #sim:state().accounts[1].schedules)
    end)

    it("returns the id of a schedule created before its answer was cut, and sends it once", function()
      local client = warm()
      sim:fault({ path = SCHEDULES, method = "POST", action = "reset_mid_body" })
      local id, err = client:add_schedule(CFG)
      assert.is_string(id, err)
      assert.equal(id, sim:state().accounts[1].schedules[1].scheduleId)
      local creates = 0
      for _, e in ipairs(sim:log()) do
        if e.method == "POST" and e.path == SCHEDULES then
          creates = creates + 1
        end
      end
      assert.equal(1, creates)
    end)

    it("reports a delete whose answer was cut after the server deleted as done", function()
      local client = warm()
      local id = assert(client:add_schedule(CFG))
      sim:fault({ match = "/delete", method = "POST", action = "reset_mid_body" })
      local ok, err = client:delete_schedule(id)
      assert.is_true(ok, err)
      assert.equal(0, #sim:state().accounts[1].schedules)
    end)
  end)

  -- ------------------------------------------------------------ bodies

  describe("bodies", function()
    local function body_fault(path, body, extra)
      local f = { path = path, action = "body", body = body }
      for k, v in pairs(extra or {}) do
        f[k] = v
      end
      sim:fault(f)
    end

    it("reports an empty settings body as protocol, then recovers", function()
      local client = warm()
      body_fault(SETTINGS, "", { method = "GET" })
      fails("protocol", function() return client:settings() end)
      assert.truthy(client:settings())
    end)

    it("reports truncated settings JSON as protocol, then recovers", function()
      local client = warm()
      body_fault(SETTINGS, '{"type":"battery-details","data":{"chargeFromGrid":tr', { method = "GET" })
      fails("protocol", function() return client:settings() end)
      assert.truthy(client:settings())
    end)

    it("reports settings JSON without a data object as protocol", function()
      local client = warm()
      for _, body in ipairs({ "[]", '"data"', '{"data":"x"}', '{"data":null}', "null", "{}" }) do
        body_fault(SETTINGS, body, { method = "GET" })
        fails("protocol", function() return client:settings() end)
      end
      assert.truthy(client:settings())
    end)

    it("reports settings data that is an array or lacks the toggles as protocol", function()
      local client = warm()
      for _, body in ipairs({ '{"data":[1,2]}', '{"data":{}}', '{"data":{"chargeFromGrid":"yes"}}' }) do
        body_fault(SETTINGS, body, { method = "GET" })
        fails("protocol", function() return client:settings() end)
      end
      assert.truthy(client:settings())
    end)

    it("reports an HTML page where settings JSON was expected as protocol", function()
      local client = warm()
      body_fault(SETTINGS, "<!DOCTYPE html><html><body>Maintenance</body></html>",
        { method = "GET", headers = { ["Content-Type"] = "text/html; charset=utf-8" } })
      fails("protocol", function() return client:settings() end)
      assert.truthy(client:settings())
    end)

    it("refuses a 50 MB body at the 4 MiB cap as protocol, then recovers", function()
      local client = warm()
      sim:fault({ path = SETTINGS, method = "GET", action = "body", size = 50 * 1000 * 1000 })
      local t0 = socket.gettime()
      local msg = fails("protocol", function() return client:settings() end)
      contains(msg, "larger than 4194304 bytes")
      assert.truthy(socket.gettime() - t0 < 5)
      assert.truthy(client:settings())
    end)

    it("refuses a body above a smaller max_body", function()
      local client = warm({ max_body = 1000 })
      sim:fault({ path = SETTINGS, method = "GET", action = "body", size = 1001 })
      fails("protocol", function() return client:settings() end)
      sim:fault({ path = SETTINGS, method = "GET", action = "body", size = 1000 })
      fails("protocol", function() return client:settings() end) -- {"pad":...}: no data
      assert.truthy(client:settings())
    end)

    it("refuses a 50 MB login page as protocol, then logs in", function()
      local client = H.new(sim)
      sim:fault({ path = "/login", method = "GET", action = "body", size = 50 * 1000 * 1000,
                  headers = { ["Content-Type"] = "text/html" } })
      fails("protocol", function() return client:status() end)
      assert.equal("OK", client:status().status)
    end)

    describe("jwt_token.json", function()
      local exp = os.time() + 86400
      local cases = {
        { "empty", "" },
        { "truncated JSON", '{"token":"eyJhbGciOi' },
        { "without token", '{"jwt":"' .. token_with({ exp = exp }) .. '"}' },
        { "with a numeric token", '{"token":12345}' },
        { "with a null token", '{"token":null}' },
        { "with an object token", '{"token":{"exp":1}}' },
        { "with a token of two parts", '{"token":"eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9"}' },
        { "with a token of four parts", '{"token":"a.b.c.d"}' },
        { "with a token that is not base64url", '{"token":"a$b.c%d.e f"}' },
        { "with a token whose payload is not JSON", '{"token":"' .. jwt.b64url("{}") .. "."
          .. jwt.b64url("not json") .. ".c2ln\"}" },
        { "with a token without exp", '{"token":"' .. token_with({ iat = 1 }) .. '"}' },
        { "with a non-numeric exp", '{"token":"' .. token_with({ exp = "tomorrow" }) .. '"}' },
        { "with a fractional exp", '{"token":"' .. token_with({ exp = exp + 0.5 }) .. '"}' },
        { "with a negative exp", '{"token":"' .. token_with({ exp = -5 }) .. '"}' },
        { "with an exp past year 9999", '{"token":"' .. token_with({ exp = 1e15 }) .. '"}' },
      }
      for _, case in ipairs(cases) do
        it("reports an answer " .. case[1] .. " as protocol, then logs in", function()
          local client = H.new(sim)
          body_fault(JWT_PATH, case[2])
          fails("protocol", function() return client:status() end)
          assert.equal("OK", client:status().status)
        end)
      end

      it("reports a JWT that has already expired as protocol, before any API call", function()
        local client = H.new(sim)
        body_fault(JWT_PATH, '{"token":"' .. token_with({ exp = os.time() - 60 }) .. '"}')
        local msg = fails("protocol", function() return client:status() end)
        contains(msg, "expired")
        assert.equal(0, #sim:requests_matching(nil, BC))
        assert.equal("OK", client:status().status)
      end)

      it("reports an HTML page from jwt_token.json during login as a typed failure", function()
        local client = H.new(sim)
        body_fault(JWT_PATH, "<!DOCTYPE html><html><body>Down for maintenance</body></html>",
          { headers = { ["Content-Type"] = "text/html" } })
        local r = table.pack(pcall(client.status, client))
        assert.is_true(r[1], tostring(r[2]))
        assert.is_nil(r[2])
        assert.truthy(errors.kinds[r[4]], tostring(r[4]))
      end)

      it("reports a maintenance page from jwt_token.json after the login POST as protocol, "
        .. "not auth, so the next call logs in by itself", function()
        local client = H.new(sim)
        body_fault(JWT_PATH, "<!DOCTYPE html><html><body>Down for maintenance</body></html>",
          { headers = { ["Content-Type"] = "text/html" } })
        local kind = select(3, client:status())
        assert.are_not.equal("auth", kind)
        assert.equal("OK", client:status().status)
      end)
    end)

    describe("data.json", function()
      local cases = {
        { "empty", "" },
        { "truncated JSON", '{"app":{"userId":49803' },
        { "with userId a string", '{"app":{"userId":"4980363"}}' },
        { "with userId 0", '{"app":{"userId":0}}' },
        { "with userId negative", '{"app":{"userId":-4980363}}' },
        { "with userId fractional", '{"app":{"userId":4980363.5}}' },
        { "without app", '{"system":{"system_id":5652514}}' },
        { "with app an array", '{"app":[4980363]}' },
      }
      for _, case in ipairs(cases) do
        it("reports an answer " .. case[1] .. " as protocol, then discovers the user", function()
          local client = H.new(sim)
          body_fault(DATA_PATH, case[2])
          fails("protocol", function() return client:status() end)
          assert.equal(H.USER_ID, client:status().user_id)
        end)
      end
    end)

    local SCHEDULES = BC .. "/battery/sites/" .. H.SITE_ID .. "/schedules"

    it("reports a schedule list that is not JSON as protocol, then recovers", function()
      local client = warm()
      for _, body in ipairs({ "", "{", '{"cfg":', "<html></html>" }) do
        body_fault(SCHEDULES, body, { method = "GET" })
        fails("protocol", function() return client:schedules() end)
      end
      assert.truthy(client:schedules())
    end)

    it("reports a schedule list of the wrong shape as protocol", function()
      local client = warm()
      for _, body in ipairs({ "{}", "[]", '{"cfg":"x"}', '{"cfg":{"details":"x"}}',
                              '{"cfg":{"details":[1]}}',
                              '{"cfg":{"details":[{"scheduleId":5}]},"dtg":{"details":[]},'
                                .. '"rbd":{"details":[]}}' }) do
        body_fault(SCHEDULES, body, { method = "GET" })
        fails("protocol", function() return client:schedules() end)
      end
      assert.truthy(client:schedules())
    end)
  end)

  -- ------------------------------------------------------------ login page

  describe("login page changes", function()
    it("reports a page without authenticity_token as protocol and posts nothing", function()
      local client = H.new(sim)
      sim:config({ login_page = "no_token" })
      local msg = fails("protocol", function() return client:status() end)
      contains(msg, "authenticity_token")
      assert.equal(0, #sim:requests_matching("POST", "/login/login"))
      sim:config({ login_page = "normal" })
      assert.equal("OK", client:status().status)
    end)

    it("logs in with the first of two tokens", function()
      sim:config({ login_page = "two_tokens" })
      local page = sim:request("GET", "/login").body
      assert.equal(2, select(2, page:gsub('name="authenticity_token"', "")))
      local client = H.new(sim)
      assert.equal("OK", client:status().status)
    end)

    it("logs in with the token of <meta name=\"csrf-token\"> when there is no hidden input", function()
      sim:config({ login_page = "meta_only" })
      local client = H.new(sim)
      assert.equal("OK", client:status().status)
      local post = sim:requests_matching("POST", "/login/login")[1]
      local page_token = sim:log()[1]
      assert.truthy(page_token)
      assert.truthy(post.body:find("authenticity_token=", 1, true))
    end)

    it("bounds a redirect loop during discovery, as protocol", function()
      local client = H.new(sim)
      sim:fault({ path = "/", method = "GET", status = 302, headers = { Location = "/" }, count = 100 })
      local msg = fails("protocol", function() return client:status() end)
      contains(msg, "redirects")
      local hops = #sim:requests_matching("GET", nil) - 1 -- minus GET /login
      assert.truthy(hops <= 12, hops .. " requests")
      clear()
      assert.equal("OK", client:status().status)
    end)

    it("bounds a two-step redirect loop with absolute URLs", function()
      local client = H.new(sim)
      sim:fault({ path = "/", method = "GET", status = 302, count = 100,
                  headers = { Location = sim.base_url .. "/web/loop" } })
      sim:fault({ path = "/web/loop", method = "GET", status = 301, count = 100,
                  headers = { Location = sim.base_url .. "/" } })
      fails("protocol", function() return client:status() end)
      clear()
      assert.equal("OK", client:status().status)
    end)

    describe("a redirect to another host", function()
      local other

      setup(function()
        other = simulator.start({ args = { "--host", "127.0.0.2" } })
      end)

      teardown(function()
        other:stop()
      end)

      before_each(function()
        other:reset()
      end)

      local function other_url(host, path)
        return ("http://%s:%d%s"):format(host, other.port, path)
      end

      it("is refused during discovery, and nothing reaches that host", function()
        local client = H.new(sim)
        sim:fault({ path = "/", method = "GET", status = 302,
                    headers = { Location = other_url("127.0.0.2", "/web/5652514/today") } })
        local msg = fails("protocol", function() return client:status() end)
        contains(msg, "redirect")
        assert.equal(0, #other:log())
        assert.equal(0, other:state().connections)
        assert.equal("OK", client:status().status)
      end)

      it("is never followed from the login POST, the JWT or data.json", function()
        for _, path in ipairs({ "/login/login", JWT_PATH, DATA_PATH }) do
          sim:reset()
          local client = H.new(sim)
          sim:fault({ path = path, status = 302,
                      headers = { Location = other_url("127.0.0.2", "/app-api/jwt_token.json") } })
          local r = table.pack(pcall(client.status, client))
          assert.is_true(r[1], tostring(r[2]))
          if r[2] == nil then
            assert.truthy(errors.kinds[r[4]], tostring(r[4]))
          end
        end
        assert.equal(0, other:state().connections)
      end)

      it("refuses a discovery redirect to another port of the same host, which never sees "
        .. "the session cookie", function()
        local same_ip = simulator.start()
        local client = H.new(sim)
        sim:fault({ path = "/", method = "GET", status = 302,
                    headers = { Location = ("http://127.0.0.1:%d/web/5652514/today"):format(same_ip.port) } })
        local r = table.pack(pcall(client.status, client))
        local reached = same_ip:state().connections
        same_ip:stop()
        assert.is_true(r[1], tostring(r[2]))
        assert.equal(0, reached)
        assert.is_nil(r[2])
        assert.equal("protocol", r[4])
      end)
    end)
  end)
end)
