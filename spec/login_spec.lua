-- The session: login, JWT, discovery, XSRF, token lifecycle, errors.
local simulator = require("helpers.sim")
local H = require("helpers.client")
local enphase = require("enphase")
local store = require("enphase.store")

describe("a client against the simulator", function()
  local sim = simulator.for_file(_ENV)

  it("logs in, discovers the site and user ids and reports OK", function()
    local client = H.new(sim)
    local st, err = client:status()
    assert.is_nil(err)
    assert.same({ "OK", H.SITE_ID, H.USER_ID }, { st.status, st.site_id, st.user_id })
    assert.same({
      "GET /login", "POST /login/login", "GET /app-api/jwt_token.json", "GET /",
      "GET /web/" .. H.SITE_ID .. "/today", "GET /app-api/" .. H.SITE_ID .. "/data.json",
      "POST /service/batteryConfig/api/v1/battery/sites/" .. H.SITE_ID .. "/schedules/isValid",
    }, H.lines(sim:log()))
    client:close()
  end)

  it("sends the seed's login form, URL-encoded", function()
    local client = H.new(sim)
    assert.truthy(client:login())
    local post = sim:requests_matching("POST", "/login/login")[1]
    assert.equal("application/x-www-form-urlencoded", post.headers["content-type"])
    assert.truthy(post.body:match("^utf8=%%E2%%9C%%93&authenticity_token=[^&]+&"))
    assert.truthy(post.body:find("user%5Bemail%5D=demo%40example.com", 1, true))
    assert.truthy(post.body:find("user%5Bpassword%5D=demo-password", 1, true))
  end)

  it("logs in with a password holding & + % = and spaces", function()
    local password = "p&ss+w%rd =x?y"
    sim:account({ email = "odd@example.com", password = password, site_id = 77, user_id = 88 })
    local client = H.new(sim, { email = "odd@example.com", password = password })
    local st, err = client:status()
    assert.is_nil(err)
    assert.equal(77, st.site_id)
    assert.equal(88, st.user_id)
  end)

  it("decodes the JWT's exp in C and reports it", function()
    local before = os.time()
    local client = H.new(sim)
    local t = assert(client:tokens())
    assert.equal(store.jwt_exp(t.token), t.exp)
    assert.is_true(t.exp >= before + 86400 - 5 and t.exp <= os.time() + 86400 + 5)
    assert.equal(t.exp, client:status().exp)
  end)

  it("answers a warm status() without sending any request", function()
    local client = H.new(sim)
    assert.truthy(client:status())
    local n = #sim:log()
    for _ = 1, 5 do
      assert.equal("OK", client:status().status)
      assert.truthy(client:tokens().token)
    end
    assert.equal(n, #sim:log())
  end)

  it("logs in exactly once more when the JWT is within the refresh margin", function()
    local client, probe = H.new(sim)
    assert.truthy(client:status())
    local n = #sim:log()
    probe.advance(86400 - 3600 + 1)
    assert.equal("OK", client:status().status)
    local after = H.since(sim, n)
    -- A fresh login starts a fresh cookie jar, so the XSRF token is fetched again.
    assert.same({ "GET /login", "POST /login/login", "GET /app-api/jwt_token.json",
                  "POST /service/batteryConfig/api/v1/battery/sites/5652514/schedules/isValid" },
      H.lines(after))
    assert.equal(2, sim:state().logins)
  end)

  describe("with JWTs whose whole life is shorter than the refresh margin", function()
    -- Issue 8, defect 2: with 30-minute JWTs and the default margin
    -- (3600 s), every request used to start with a login.
    before_each(function()
      sim:config({ jwt_ttl = 1800 })
    end)

    it("uses a JWT just issued: one login for a toggle and five settings reads", function()
      local client = H.new(sim, { validate_delay = 0 })
      assert.truthy(client:charge_from_grid(true))
      for _ = 1, 5 do
        assert.truthy(client:settings())
      end
      assert.equal(1, sim:state().logins)
      client:close()
    end)

    it("renews when less than half the JWT's life is left", function()
      local client, probe = H.new(sim)
      assert.truthy(client:status())
      probe.advance(899) -- 901 s left: more than half
      assert.truthy(client:settings())
      assert.equal(1, sim:state().logins)
      probe.advance(2) -- 899 s left
      assert.truthy(client:settings())
      assert.equal(2, sim:state().logins)
      client:close()
    end)

    it("keeps the margin for long JWTs (the margin is the smaller)", function()
      sim:config({ jwt_ttl = 3 * 3600 })
      local client, probe = H.new(sim)
      assert.truthy(client:status())
      probe.advance(2 * 3600 - 1) -- 3601 s left
      assert.truthy(client:status())
      assert.equal(1, sim:state().logins)
      probe.advance(2)
      assert.truthy(client:status())
      assert.equal(2, sim:state().logins)
      client:close()
    end)

    it("uses a 30-minute JWT from the token cache in the next process", function()
      local dir = io.popen("mktemp -d /tmp/enphase-storm.XXXXXX"):read("l")
      local path = dir .. "/session.json"
      local a = H.new(sim, { token_cache = path })
      assert.truthy(a:status())
      a:close()
      local b = H.new(sim, { token_cache = path })
      assert.truthy(b:settings())
      b:close()
      os.execute("rm -rf '" .. dir .. "'")
      assert.equal(1, sim:state().logins)
    end)
  end)

  it("skips discovery when the ids are given", function()
    local client = H.new(sim, { site_id = H.SITE_ID, user_id = tostring(H.USER_ID) })
    assert.equal("OK", client:status().status)
    for _, e in ipairs(sim:log()) do
      assert.is_nil(e.path:match("^/$"))
      assert.is_nil(e.path:match("data%.json"))
    end
  end)

  it("accepts ids given as floats, as lua-cjson decodes them", function()
    local client = H.new(sim, { site_id = 5652514.0, user_id = 4980363.0 })
    local st = assert(client:status())
    assert.equal(math.type(st.site_id), "integer")
    local isvalid = sim:requests_matching("POST", "isValid")[1]
    assert.equal("4980363", isvalid.headers.username)
  end)

  it("reports a wrong password as auth and never retries it by itself", function()
    local client = H.new(sim, { password = "wrong" })
    local st, err, kind = client:status()
    assert.is_nil(st)
    assert.equal("auth", kind)
    assert.truthy(err:lower():find("refused") or err:lower():find("invalid"))
    local attempts = sim:state().login_attempts
    st, err, kind = client:status()
    assert.is_nil(st)
    assert.equal("auth", kind)
    assert.truthy(err:find("client:login", 1, true))
    assert.equal(attempts, sim:state().login_attempts)
  end)

  it("recognises an account that needs multi-factor authentication", function()
    sim:account({ email = "mfa@example.com", password = "pw-mfa", site_id = 5, user_id = 6, mfa = true })
    local client = H.new(sim, { email = "mfa@example.com", password = "pw-mfa" })
    local _, _, kind = client:status()
    assert.equal("mfa", kind)
  end)

  it("recognises an account locked out with too many sessions", function()
    sim:account({ email = "busy@example.com", password = "pw-busy", site_id = 7, user_id = 8,
                  locked = true })
    local client = H.new(sim, { email = "busy@example.com", password = "pw-busy" })
    local _, _, kind = client:status()
    assert.equal("locked", kind)
  end)

  it("reports a login page without authenticity_token as protocol", function()
    sim:config({ login_page = "no_token" })
    local client = H.new(sim)
    local st, err, kind = client:status()
    assert.is_nil(st)
    assert.equal("protocol", kind)
    assert.truthy(err:find("authenticity_token", 1, true))
    assert.equal(0, #sim:requests_matching("POST", "/login/login"))
  end)

  it("reports an unreachable server as network", function()
    local client = enphase.new({ email = "a@b.c", password = "x", base_url = "http://127.0.0.1:1" })
    local st, err, kind = client:status()
    assert.is_nil(st)
    assert.equal("network", kind)
    assert.truthy(#err > 0)
  end)

  it("treats an HTML login page where JSON was expected as an expired session", function()
    sim:fault({ match = "/data.json", action = "body", count = 1,
                headers = { ["Content-Type"] = "text/html; charset=utf-8" },
                body = "<!DOCTYPE html><html><body><form action=\"/login/login\"></form></body></html>" })
    local client = H.new(sim, { site_id = H.SITE_ID })
    local st, err = client:status()
    assert.is_nil(err)
    assert.equal(H.USER_ID, st.user_id)
    assert.equal(2, #sim:requests_matching("POST", "/login/login"))
  end)

  it("sends a browser-like User-Agent by default, and the one configured", function()
    H.new(sim):status()
    assert.truthy(sim:log()[1].headers["user-agent"]:find("Mozilla/5.0", 1, true))
    sim:reset()
    H.new(sim, { user_agent = "my-script/1.0" }):status()
    assert.equal("my-script/1.0", sim:log()[1].headers["user-agent"])
  end)

  it("keeps secrets out of tostring() and of every log line", function()
    local client, probe = H.new(sim)
    assert.truthy(client:status())
    local t = client:tokens()
    local shown = tostring(client) .. tostring(client.ctx.session)
    assert.truthy(shown:find(tostring(H.SITE_ID), 1, true))
    local secrets = { H.PASSWORD, t.token, t.xsrf }
    for _, c in ipairs(sim:log()) do
      for _, v in pairs(c.cookies or {}) do
        secrets[#secrets + 1] = v
      end
    end
    assert.truthy(#probe.lines > 0)
    for _, secret in ipairs(secrets) do
      assert.falsy(shown:find(secret, 1, true))
      for _, line in ipairs(probe.lines) do
        assert.falsy(line:find(secret, 1, true), line)
      end
    end
  end)

  it("checks options before sending anything", function()
    local cases = {
      { {}, "email" },
      { { email = "a@b.c" }, "password" },
      { { email = "a@b.c", password = "x", site_id = "12a" }, "site_id" },
      { { email = "a@b.c", password = "x", user_id = -3 }, "user_id" },
      { { email = "a@b.c", password = "x", base_url = "http://example.com" }, "https" },
      { { email = "a@b.c", password = "x", timeout = 0 }, "timeout" },
      { { email = "a@b.c", password = "x", colour = "red" }, "colour" },
    }
    for _, case in ipairs(cases) do
      local c, err, kind = enphase.new(case[1])
      assert.is_nil(c)
      assert.equal("input", kind)
      assert.truthy(err:find(case[2], 1, true), err)
    end
    assert.equal(0, #sim:log())
  end)

  it("closes idempotently and works as a to-be-closed variable", function()
    if _VERSION == "Lua 5.4" then -- <close> is Lua 5.4 syntax: load()ed
      local kept = assert(load([[
        local client <close> = ...
        assert(client:status())
        return client
      ]]))(H.new(sim))
      assert.equal("enphase.client (closed)", tostring(kept))
    end
    local client = H.new(sim)
    client:close()
    client:close()
    assert.equal("enphase.client (closed)", tostring(client))
  end)
end)

describe("a login form refused with HTTP 422 (a stale authenticity token)", function()
  local sim = simulator.for_file(_ENV)

  local function fault_422(count)
    sim:fault({ path = "/login/login", method = "POST", status = 422, count = count,
      body = "<html><body>The change you wanted was rejected.</body></html>" })
  end

  it("fetches the login page again once, then logs in", function()
    fault_422(1)
    local client = H.new(sim)
    local st, err, kind = client:status()
    assert.truthy(st, err and (err .. " (" .. tostring(kind) .. ")"))
    local lines = H.lines(sim:log())
    assert.same({ "GET /login", "POST /login/login", "GET /login", "POST /login/login",
      "GET /app-api/jwt_token.json" }, { table.unpack(lines, 1, 5) })
    client:close()
  end)

  it("is a protocol failure when it happens twice, not a wrong password, and is retried later",
    function()
      fault_422(2)
      local client = H.new(sim)
      local st, err, kind = client:status()
      assert.is_nil(st)
      assert.equal("protocol", kind, err)
      assert.falsy(err:lower():find("password", 1, true), err)
      assert.truthy(err:find("422", 1, true), err)
      assert.equal(2, #sim:requests_matching("POST", "/login/login"))
      -- not a refusal: the next call logs in by itself
      st, err = client:status()
      assert.truthy(st, err)
      client:close()
    end)
end)
