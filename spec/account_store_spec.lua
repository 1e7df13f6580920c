-- The account store (account/store.lua): one private file per account with
-- named sections, the older files folded in once, everything read back
-- checked like a server's answer, future time stamps taken as now, a guard
-- that fails closed when it cannot write, and a wrong password remembered
-- by a fingerprint only (issue 14, faults 3-5; issue 16, item 4).
-- The CLI runs in this process (H.main); ENPHASE_TEST_CLOCK_OFFSET moves its
-- clock, so nothing waits for real.
local simulator = require("helpers.sim")
local H = require("helpers.client")
local procs = require("helpers.procs")
local store = require("enphase.store")
local json = require("cjson")

local YEAR = 365 * 86400
local KEY = "enphase-token-cache" -- account_key's prefix

local function login_posts(sim)
  return #sim:requests_matching("POST", "/login/login")
end

local function listing(folder)
  local out = {}
  for name in procs.capture("ls -A " .. procs.shell_quote(folder)):gmatch("[^\n]+") do
    out[#out + 1] = name
  end
  table.sort(out)
  return out
end

describe("the account store", function()
  local sim = simulator.for_file(_ENV)
  local dir, path, env

  local function account_key()
    return store.sha256(KEY .. "\n" .. sim.base_url .. "\n" .. H.EMAIL)
  end

  -- The older files of the token cache `path` (version 1).
  local function legacy_ledger(t)
    t.version, t.account = 1, account_key()
    procs.spit(path .. "." .. account_key():sub(1, 16) .. ".ledger", json.encode(t), "600")
  end
  local function legacy_owned(records)
    procs.spit(path:gsub("%.json$", "") .. ".owned.json",
      json.encode({ version = 1, sites = { [tostring(H.SITE_ID)] = records } }), "600")
  end

  -- The CLI with `env` and `extra` settings; code, stdout, stderr. Never raises.
  local function cli(argv, extra)
    local e = {}
    for k, v in pairs(env) do
      e[k] = v
    end
    for k, v in pairs(extra or {}) do
      e[k] = v or nil
    end
    local ok, code, out, err = pcall(H.main, argv, e)
    assert(ok, "the CLI raised: " .. tostring(code))
    return code, out, err
  end

  before_each(function()
    dir = procs.tmpdir("store")
    os.execute("mkdir -m 700 " .. procs.shell_quote(dir .. "/c"))
    path = dir .. "/c/session.json"
    env = { ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD, ENPHASE_BASE_URL = sim.base_url,
            ENPHASE_TOKEN_CACHE = path, ENPHASE_TIMEZONE = "Europe/London" }
  end)

  after_each(function()
    procs.rmdir(dir)
  end)

  it("keeps one private file and one lock per account; the older files are folded in once",
    function()
    local now = os.time()
    legacy_ledger({ login = { refusals = 1, until_at = now + 250, kind = "auth", message = "old" },
                    budget = { { now - 10, 4 } } })
    legacy_owned({ ["a-b-c"] = { mode = "dtg", start_time = "17:00", end_time = "18:00",
                                 days = { 1 } } })
    assert.equal(2, #listing(dir .. "/c")) -- a ledger and an ownership file, no cache yet
    local code, out = cli({ "status", "--json" })
    assert.equal(1, code) -- the old guard's refusal still holds
    assert.equal("auth", json.decode(out).kind)
    assert.equal(0, login_posts(sim))
    assert.same({ "session.json", "session.json.lock" }, listing(dir .. "/c"))
    assert.equal(tonumber("600", 8), store.file_mode(path) % 512)
    local t = json.decode(procs.slurp(path))
    assert.equal(2, t.version)
    assert.equal(1, t.guard.refusals)
    assert.equal(4, t.budget[1][2])
    assert.equal("dtg", t.owned.sites[tostring(H.SITE_ID)]["a-b-c"].mode)
    -- an explicit login goes through; the store then holds the session too
    code = cli({ "login" })
    assert.equal(0, code)
    t = json.decode(procs.slurp(path))
    assert.is_string(t.session.token)
    assert.equal(0, t.guard.refusals)
    assert.same({ "session.json", "session.json.lock" }, listing(dir .. "/c"))
  end)

  describe("checks what it reads back like a server's answer (fault 3)", function()
    local cases = {
      { "a guard deadline of 1e300", function()
        legacy_ledger({ login = { until_at = 1e300, refusals = 1, kind = "auth", message = "x" } })
      end, { "status", "--json" } },
      { "a budget stamp of 1e300", function()
        legacy_ledger({ budget = { { 1e300, 600 } } })
      end, { "status", "--json" } },
    }
    for _, bad in ipairs({ { "soon", '"soon"' }, { "{}", "{}" }, { "true", "true" } }) do
      cases[#cases + 1] = { "an owned schedule expiring " .. bad[1], function()
        assert.equal(0, (cli({ "status" }))) -- warm: the site's id is known
        local records = ('{"x-y-z":{"mode":"cfg","start_time":"01:00","end_time":"02:00",'
          .. '"days":[1],"expires":%s}}'):format(bad[2])
        procs.spit(path:gsub("%.json$", "") .. ".owned.json", ('{"version":1,"sites":{"%d":%s}}')
          :format(H.SITE_ID, records), "600")
        local text = procs.slurp(path) -- this version: the same record in the store's section
        if text:find('"version":2', 1, true) then
          procs.spit(path, text:gsub('^{', ('{"owned":{"sites":{"%d":%s}},'):format(H.SITE_ID,
            records)), "600")
        end
      end, { "cfg", "on", "--for", "30m", "--json" } }
    end
    for _, case in ipairs(cases) do
      it("read back: " .. case[1] .. " raises nothing; --json prints JSON", function()
        case[2]()
        local code, out, err = cli(case[3])
        assert.equal(0, code, err)
        assert.is_table(json.decode(out))
        assert.falsy(err:find("traceback", 1, true), err)
      end)
    end

    it("this version: every section of the wrong type or out of range is reset, with a warning",
      function()
      assert.equal(0, (cli({ "status" })))
      local good = json.decode(procs.slurp(path))
      for _, section in ipairs({
        { guard = { until_at = 1e300, refusals = 2, kind = "auth" } },
        { guard = { refusals = "many" } },
        { budget = { { 1e300, 600 } } },
        { budget = "spent" },
        { reads = { settings = { at = "now", value = {} } } },
        { mfa = { started = {}, sent = 1, csrf = "x", cookies = {} } },
        { owned = { sites = { [tostring(H.SITE_ID)] = {
          ["x-y-z"] = { mode = "cfg", start_time = "01:00", end_time = "02:00", days = { 1 },
                        expires = "soon" },
          ["bad"] = { mode = "warp", start_time = 7 } } } } },
        { session = { token = 42 } },
      }) do
        local t = json.decode(procs.slurp(path))
        for name, value in pairs(section) do
          t[name] = value
        end
        procs.spit(path, json.encode(t), "600")
        local code, out, err = cli({ "status", "--json" })
        local name = next(section)
        assert.equal(0, code, name .. ": " .. err)
        assert.equal("OK", json.decode(out).status)
        if name ~= "session" then
          assert.matches("account store " .. path .. ": section " .. name .. " reset", err, 1, true)
        end
        -- written back whole: the next run warns no more
        code, _, err = cli({ "status", "--json" })
        assert.equal(0, code)
        assert.equal("", err)
      end
      assert.equal(good.version, json.decode(procs.slurp(path)).version)
    end)
  end)

  describe("takes a time stamp in the future as now (fault 4: a clock set a year ahead)", function()
    it("the budget spent a year ahead has room again one window after the clock is corrected",
      function()
      local ahead = { ENPHASE_TEST_CLOCK_OFFSET = tostring(YEAR), ENPHASE_BUDGET = "10" }
      -- a year ahead every login's JWT looks expired: each try costs 3 requests
      for _ = 1, 3 do
        assert.equal(1, (cli({ "status" }, ahead)))
      end
      local code, out = cli({ "status", "--json" }, ahead)
      assert.equal(1, code)
      assert.equal("budget", json.decode(out).kind)
      -- the clock corrected: those requests count as made now, for one window
      local back = { ENPHASE_BUDGET = "10" }
      code, out = cli({ "login", "--json" }, back)
      assert.equal(1, code)
      local said = json.decode(out)
      assert.equal("budget", said.kind)
      local wait = tonumber(said.error:match("room again in (%d+) s"))
      assert.truthy(wait and wait > 0 and wait <= 3600, said.error)
      -- and once that window has passed, `enphase login` logs in
      code, out = cli({ "login", "--json" }, { ENPHASE_BUDGET = "10",
                                               ENPHASE_TEST_CLOCK_OFFSET = "3601" })
      assert.equal(0, code, out)
      assert.equal("OK", json.decode(out).status)
    end)

    it("a refusal a year ahead holds back automatic logins for its pause, not for a year",
      function()
      local wrong = { ENPHASE_PASSWORD = "wrong", ENPHASE_TEST_CLOCK_OFFSET = tostring(YEAR) }
      assert.equal(1, (cli({ "status" }, wrong)))
      assert.equal(1, login_posts(sim))
      wrong.ENPHASE_TEST_CLOCK_OFFSET = nil
      local code, out = cli({ "status", "--json" }, wrong)
      assert.equal(1, code)
      local said = json.decode(out)
      assert.equal("auth", said.kind)
      local wait = tonumber(said.error:match("in (%d+) s, after"))
      assert.truthy(wait and wait <= 300, said.error)
      assert.equal(1, login_posts(sim))
      wrong.ENPHASE_TEST_CLOCK_OFFSET = "301"
      assert.equal(1, (cli({ "status" }, wrong)))
      assert.equal(2, login_posts(sim)) -- tried again after the pause
    end)
  end)

  describe("fails closed when the guard cannot be written (fault 5)", function()
    local function wrong_password_runs(extra, n)
      local codes, errs = {}, {}
      for i = 1, n do
        local e = { ENPHASE_PASSWORD = "wrong" }
        for k, v in pairs(extra or {}) do
          e[k] = v
        end
        local code, out, err = cli({ "status", "--json" }, e)
        codes[i], errs[i] = code, err
        assert.is_table(json.decode(out))
      end
      return codes, errs
    end

    it("a full disk: no automatic login, a warning without --verbose; `enphase login` works",
      function()
      local write = store.write_private
      finally(function()
        store.write_private = write
      end)
      store.write_private = function(p, text)
        if p:sub(1, #dir) == dir then
          return nil, p .. ": write: No space left on device", "input"
        end
        return write(p, text)
      end
      local _, errs = wrong_password_runs(nil, 6)
      assert.equal(0, login_posts(sim))
      for i = 1, 6 do
        assert.matches("lock-out guard cannot be saved", errs[i], 1, true)
        assert.matches("No space left on device", errs[i], 1, true)
      end
      -- the explicit login goes through (its session cannot be kept: said too)
      local code, _, err = cli({ "login" })
      assert.equal(0, code, err)
      assert.equal(1, login_posts(sim))
      assert.matches("not saved", err, 1, true)
      -- space again: the guard works as before
      store.write_private = write
      local codes = wrong_password_runs(nil, 3)
      assert.same({ 1, 1, 1 }, codes)
      assert.equal(2, login_posts(sim))
    end)

    it("a folder in place of the default store: the same", function()
      local home = dir .. "/home"
      local default = require("enphase.cli.config").default_token_cache(function(k)
        return k == "HOME" and home or nil
      end, H.EMAIL, sim.base_url)
      os.execute("mkdir -p -m 700 " .. procs.shell_quote(default))
      local at_home = { ENPHASE_TOKEN_CACHE = false, HOME = home }
      env.ENPHASE_TOKEN_CACHE = nil
      local _, errs = wrong_password_runs(at_home, 6)
      assert.equal(0, login_posts(sim))
      for i = 1, 6 do
        assert.matches("lock-out guard cannot be saved", errs[i], 1, true)
        assert.matches("is a folder", errs[i], 1, true)
      end
      local code, _, err = cli({ "login" }, at_home)
      assert.equal(0, code, err)
      assert.equal(1, login_posts(sim))
    end)
  end)

  it("remembers a wrong password by a fingerprint only: a new one is tried at once", function()
    local code, out = cli({ "status", "--json" }, { ENPHASE_PASSWORD = "wrong-one" })
    assert.equal(1, code)
    assert.equal("auth", json.decode(out).kind)
    assert.equal(1, login_posts(sim))
    local text = procs.slurp(path)
    assert.falsy(text:find("wrong-one", 1, true))
    local g = json.decode(text).guard
    assert.matches("^%x+$", g.fingerprint)
    assert.equal(64, #g.fingerprint)
    assert.matches("^%x+$", g.salt)
    -- the same password: held back
    code, out = cli({ "status", "--json" }, { ENPHASE_PASSWORD = "wrong-one" })
    assert.equal(1, code)
    assert.matches("only this password is held back", json.decode(out).error, 1, true)
    assert.equal(1, login_posts(sim))
    -- another one: tried at once (and held back in its turn)
    assert.equal(1, (cli({ "status" }, { ENPHASE_PASSWORD = "wrong-two" })))
    assert.equal(2, login_posts(sim))
    assert.falsy(procs.slurp(path):find("wrong-two", 1, true))
    assert.equal(1, (cli({ "status" }, { ENPHASE_PASSWORD = "wrong-two" })))
    assert.equal(2, login_posts(sim))
    -- the right one: tried at once
    code = cli({ "status" })
    assert.equal(0, code)
    assert.equal(3, login_posts(sim))
    assert.is_nil(json.decode(procs.slurp(path)).guard.fingerprint)
  end)
end)
