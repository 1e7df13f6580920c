-- The lock-out guard (lockout.lua): refused logins are not repeated by
-- themselves, inside one client or across every process of an account
-- sharing a token cache; the clock is virtual, nothing waits for real.
local simulator = require("helpers.sim")
local H = require("helpers.client")
local procs = require("helpers.procs")
local store = require("enphase.store")
local json = require("cjson")

local function login_posts(sim)
  return #sim:requests_matching("POST", "/login/login")
end

describe("the lock-out guard", function()
  local sim = simulator.for_file(_ENV)
  local dir

  before_each(function()
    dir = procs.tmpdir()
  end)

  after_each(function()
    procs.rmdir(dir)
  end)

  -- Two clients of one account sharing a cache (two processes) on one
  -- virtual clock; `extra` adds options.
  local function pair(extra)
    local offset = 0
    local clock = function()
      return os.time() + offset
    end
    local opts = { token_cache = dir .. "/c/session.json", clock = clock }
    for k, v in pairs(extra or {}) do
      opts[k] = v
    end
    local a = H.new(sim, opts)
    local b = H.new(sim, opts)
    return a, b, function(s)
      offset = offset + s
    end
  end

  it("waits 300 s after a refusal, then 24 h after the third, inside one client", function()
    local client, probe = H.new(sim, { password = "wrong" })
    local _, err, kind = client:status()
    assert.equal("auth", kind)
    assert.matches("no automatic login before %d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%dZ", err)
    assert.equal(1, login_posts(sim))
    probe.advance(299)
    _, err, kind = client:status()
    assert.equal("auth", kind)
    assert.matches("in 1 s, after 1 refusal in a row", err, 1, true)
    assert.matches("client:login{force=true}", err, 1, true)
    assert.equal(1, login_posts(sim))
    probe.advance(2)
    assert.equal("auth", select(3, client:status()))
    assert.equal(2, login_posts(sim))
    probe.advance(301)
    _, err = client:status()
    assert.equal(3, login_posts(sim))
    assert.matches("in 86400 s", err, 1, true)
    for _ = 1, 10 do
      probe.advance(8600)
      assert.equal("auth", select(3, client:status()))
    end
    assert.equal(3, login_posts(sim))
    probe.advance(400)
    assert.equal("auth", select(3, client:status()))
    assert.equal(4, login_posts(sim))
  end)

  it("shares the wait with every process of the account through the token cache", function()
    sim:account({ email = H.EMAIL, password = "changed" })
    local a, b, advance = pair()
    assert.equal("auth", select(3, a:status()))
    local _, err, kind = b:status()
    assert.equal("auth", kind)
    assert.matches("no automatic login before", err, 1, true)
    assert.equal(1, login_posts(sim))
    -- a plain login() respects the guard too; a forced one goes through
    assert.equal("auth", select(3, b:login()))
    assert.equal(1, login_posts(sim))
    advance(3600)
    assert.equal("auth", select(3, b:status()))
    assert.equal("auth", select(3, a:status()))
    assert.equal(2, login_posts(sim))
    sim:account({ email = H.EMAIL, password = H.PASSWORD })
    assert.is_true(b:login({ force = true }))
    assert.equal(3, login_posts(sim))
    -- the success cleared the guard for everyone: a's next call takes b's session
    assert.equal("OK", a:status().status)
    assert.equal(3, login_posts(sim))
    a:close()
    b:close()
  end)

  it("stops for 24 hours after too many active sessions, configurable", function()
    sim:account({ email = H.EMAIL, locked = true })
    local a, b, advance = pair({ locked_pause = 7200 })
    local _, err, kind = a:status()
    assert.equal("locked", kind)
    assert.matches("in 7200 s", err, 1, true)
    advance(7000)
    assert.equal("locked", select(3, b:status()))
    assert.equal(1, login_posts(sim))
    advance(201)
    sim:account({ email = H.EMAIL, locked = false })
    assert.equal("OK", b:status().status)
    assert.equal(2, login_posts(sim))
  end)

  it("takes the settings: cool-down, refusals before the long pause", function()
    local client, probe = H.new(sim, { password = "wrong", login_cooldown = 10,
                                       login_refusals = 2, refusals_pause = 100 })
    client:status()
    probe.advance(11)
    local _, err = client:status()
    assert.matches("in 100 s, after 2 refusals", err, 1, true)
    probe.advance(99)
    client:status()
    assert.equal(2, login_posts(sim))
    probe.advance(2)
    client:status()
    assert.equal(3, login_posts(sim))
    for _, bad in ipairs({ { login_refusals = 0 }, { login_refusals = 1.5 }, { budget = -1 },
                           { login_cooldown = "x" }, { max_age = -1 } }) do
      local opts = { email = "a@b.c", password = "x" }
      for k, v in pairs(bad) do
        opts[k] = v
      end
      local c, e, k = require("enphase").new(opts)
      assert.is_nil(c)
      assert.equal("input", k)
      assert.matches((next(bad)), e, 1, true)
    end
  end)

  it("reuses another process's login of less than 30 s instead of logging in again", function()
    local a, b, advance = pair()
    assert.is_true(a:login())
    local n = login_posts(sim)
    assert.is_true(b:login())
    assert.equal(n, login_posts(sim))
    advance(31)
    assert.is_true(b:login())
    assert.equal(n + 1, login_posts(sim))
  end)

  it("ignores an account store that is not JSON, or is another account's", function()
    local a = pair()
    local path = a.ctx.store.path
    assert.is_true(store.write_private(path, "{not json"))
    assert.equal("OK", a:status().status)
    local t = json.decode(procs.slurp(path))
    assert.equal(0, t.guard.refusals)
    t.account = "0"
    t.guard = { until_at = os.time() + 1000, refusals = 5, kind = "auth", message = "old" }
    assert.is_true(store.write_private(path, json.encode(t)))
    sim:revoke({})
    sim:clear_sessions()
    local b = H.new(sim, { token_cache = dir .. "/c/session.json", refresh_margin = 90000 })
    assert.equal("OK", b:status().status)
  end)

  it("keeps 200 cron runs with a wrong password over 24 hours to 3 login attempts", function()
    -- every run is its own process, 432 virtual seconds after the previous one
    local runs, step = 200, 86400 / 200
    local env = {
      ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = "wrong", ENPHASE_BASE_URL = sim.base_url,
      ENPHASE_TOKEN_CACHE = dir .. "/cron/session.json",
    }
    local t0 = store.monotonic()
    local results = procs.run_many(dir, runs, 8, function(i)
      local e = { ENPHASE_TEST_CLOCK_OFFSET = ("%d"):format((i - 1) * step) }
      for k, v in pairs(env) do
        e[k] = v
      end
      return e, { "status" }
    end)
    local seconds = store.monotonic() - t0
    assert.equal(3, login_posts(sim))
    assert.equal(3, sim:state().login_attempts)
    local waited = 0
    for i, r in ipairs(results) do
      assert.equal(1, r.code, r.err)
      assert.matches("^enphase status: POST /login/login: invalid email or password", r.err)
      assert.falsy(r.err:find("wrong", 1, true), "the password is never shown")
      if r.err:find("no automatic login before", 1, true) then
        waited = waited + 1
      end
      assert.truthy(i <= 24 or r.err:find("after 3 refusals in a row", 1, true), r.err)
    end
    assert.equal(runs, waited)
    print(("\n  200 cron runs over a virtual day: 3 login attempts, %.1f s"):format(seconds))
  end)

  it("refuses the test clock against a server that is not a loopback one", function()
    local r = procs.run(dir, { ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = "x",
      ENPHASE_BASE_URL = "https://enlighten.example.com", ENPHASE_TEST_CLOCK_OFFSET = "86400" },
      { "status" })
    assert.equal(2, r.code)
    assert.matches("ENPHASE_TEST_CLOCK_OFFSET is a test setting", r.err, 1, true)
  end)

  it("moves the test clock by the CLI's waits instead of waiting", function()
    -- nothing listens on port 1: every login is refused at once, and each
    -- is retried after a back-off the log announces
    local t0 = store.monotonic()
    local r = procs.run(dir, { ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = "x",
      ENPHASE_BASE_URL = "http://127.0.0.1:1", ENPHASE_TEST_CLOCK_OFFSET = "0" },
      { "dtg", "on", "--verbose" })
    local seconds = store.monotonic() - t0
    assert.equal(1, r.code, r.err)
    assert.matches("^enphase dtg: GET /login: Couldn't connect", r.err:match("[^\n]*\n?$"))
    local waits, announced = 0, 0
    for s in r.err:gmatch("retrying in ([%d.]+) s") do
      waits, announced = waits + 1, announced + tonumber(s)
    end
    assert.truthy(waits >= 2, r.err)
    assert.truthy(announced >= 1.4, r.err) -- the first two waits: 0.5-1 s and 1-2 s
    assert.truthy(seconds < announced, ("%.2f s: the waits passed (%.1f s)"):format(seconds,
      announced))
  end)

  it("lets `enphase login` through the wait", function()
    local env = { ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = "wrong", ENPHASE_BASE_URL = sim.base_url,
                  ENPHASE_TOKEN_CACHE = dir .. "/cli/session.json" }
    assert.equal(1, procs.run(dir, env, { "status" }).code)
    local r = procs.run(dir, env, { "status" })
    assert.matches("no automatic login before", r.err, 1, true)
    assert.matches("enphase login", r.err, 1, true)
    assert.equal(1, login_posts(sim))
    -- the explicit login goes through the wait, even with the password that failed
    r = procs.run(dir, env, { "login", "--json" })
    assert.equal(1, r.code)
    assert.equal("auth", json.decode(r.out).kind)
    assert.equal(2, login_posts(sim))
    r = procs.run(dir, env, { "status" })
    assert.equal(1, r.code)
    assert.equal(2, login_posts(sim))
    -- the right password is another one: tried at once, by an automatic login too
    env.ENPHASE_PASSWORD = H.PASSWORD
    r = procs.run(dir, env, { "status", "--json" })
    assert.equal(0, r.code, r.err)
    assert.equal("OK", json.decode(r.out).status)
    assert.equal(3, login_posts(sim))
    r = procs.run(dir, env, { "login", "--json" })
    assert.equal(0, r.code, r.err)
    assert.equal(4, login_posts(sim))
    r = procs.run(dir, env, { "status", "--json" })
    assert.equal(0, r.code, r.err)
    assert.equal(4, login_posts(sim))
  end)
end)
