-- No secret leaks: every operation of the client (successes and failures)
-- runs with a capturing logger, and neither a log line, an error message,
-- a tostring() nor the CLI's output holds the password, a JWT, an XSRF
-- token or a session cookie value (only `enphase token --json` prints
-- tokens, by design). Then: credentials go only to base_url's host.
local enphase = require("enphase")
local cli = require("enphase.cli")
local child = require("helpers.child")
local simulator = require("helpers.sim")
local H = require("helpers.client")

local shell_quote = simulator.shell_quote
local WRONG_PASSWORD = "not-the-Password-42"

-- Every secret the simulator saw: passwords, JWTs, XSRF tokens and cookie
-- values (the short ones, under 8 bytes, would match by chance).
local function harvest(sim, into)
  into = into or {}
  local function add(v)
    if type(v) == "string" and #v >= 8 then
      into[v] = true
    end
  end
  add(H.PASSWORD)
  add(WRONG_PASSWORD)
  add("password1")
  for _, e in ipairs(sim:log()) do
    add(e.headers["e-auth-token"])
    add(e.headers["x-xsrf-token"])
    for _, v in pairs(e.cookies or {}) do
      add(v)
    end
    local pw = (e.body or ""):match("user%%5Bpassword%%5D=([^&]*)")
    add(pw and pw:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
  end
  return into
end

-- Fails naming the text and the kind of secret when one leaks.
local function assert_clean(texts, secrets)
  local kinds = 0
  for _ in pairs(secrets) do
    kinds = kinds + 1
  end
  assert.truthy(kinds >= 4, "too few secrets harvested for the check to mean anything")
  for where, text in pairs(texts) do
    for secret in pairs(secrets) do
      if text:find(secret, 1, true) then
        error(("%s leaks a secret (%s...): %s"):format(where, secret:sub(1, 4), text), 2)
      end
    end
  end
end

-- Collects texts under unique labels.
local function collector()
  local texts, n = {}, 0
  local function put(label, ...)
    for i = 1, select("#", ...) do
      local v = select(i, ...)
      if type(v) == "string" then
        n = n + 1
        texts[("%s #%d (%d)"):format(label, i, n)] = v
      end
    end
  end
  return texts, put
end

describe("no secret leaks", function()
  local sim, dir

  setup(function()
    sim = simulator.start({ args = { "--sites", "1" } })
    dir = io.popen("mktemp -d /tmp/enphase-secrets.XXXXXX"):read("l")
  end)

  teardown(function()
    sim:stop()
    os.execute("rm -rf " .. shell_quote(dir))
  end)

  before_each(function()
    sim:reset()
    os.execute("rm -f " .. shell_quote(dir) .. "/*")
  end)

  it("in log lines, results' messages and tostring() of every client method", function()
    local texts, put = collector()
    local client, probe = H.new(sim, { token_cache = dir .. "/cache.json", validate_delay = 0 })
    local session = client.ctx.session
    put("tostring(client) before", tostring(client))
    put("tostring(session) before", tostring(session))
    put("login", client:login())
    put("status", client:status())
    local st = client:status()
    for k, v in pairs(st) do
      put("status." .. k, tostring(v))
    end
    local tokens = assert(client:tokens()) -- secrets by design: not put
    put("settings", client:settings())
    put("charge_from_grid", client:charge_from_grid(true))
    put("discharge_to_grid", client:discharge_to_grid(true))
    put("restrict_discharge", client:restrict_discharge(false))
    put("toggle", client:toggle("cfg", false))
    put("site_settings", client:site_settings())
    put("profile", client:profile())
    put("set_profile", client:set_profile("self-consumption", 30))
    put("set_profile bad", client:set_profile("nonsense", 30))
    put("set_reserve", client:set_reserve(40))
    put("cancel_pending_profile", client:cancel_pending_profile())
    put("set_very_low_soc", client:set_very_low_soc(10))
    put("schedules", client:schedules())
    local id, state = client:add_schedule({ type = "CFG", start_time = "02:00", end_time = "05:00",
      days = { 1, 2, 3 } })
    put("add_schedule", tostring(id), state)
    put("add_schedule overlap", client:add_schedule({ type = "CFG", start_time = "03:00",
      end_time = "04:00", days = { 1, 2, 3 } }))
    put("update_schedule", client:update_schedule(id, { limit = 90 }))
    put("delete_schedule", client:delete_schedule(id))
    put("delete_schedule missing", client:delete_schedule(id))
    client:add_schedule({ type = "DTG", start_time = "18:00", end_time = "20:00", days = { 1 } })
    put("delete_schedules", client:delete_schedules("all"))
    put("disable", client:disable("cfg", { delete_schedules = true }))
    put("timezone", client:timezone())

    -- faults: 401, 403, 503, a closed connection, a forgotten web session
    local BS = "batterySettings"
    sim:fault({ match = BS, method = "GET", status = 401 })
    put("settings after 401", client:settings())
    sim:fault({ match = BS, method = "PUT", status = 403 })
    put("cfg after 403", client:charge_from_grid(true))
    sim:fault({ match = BS, method = "GET", status = 401, count = 5 })
    put("settings with 401 always", client:settings())
    sim:fault({ match = BS, status = 403, count = 5 })
    put("settings with 403 always", client:settings())
    sim:fault({ match = BS, status = 503, count = 5 })
    put("settings with 503", client:settings())
    sim:fault({ match = BS, action = "close", count = 5 })
    put("settings with closed connections", client:settings())
    sim:fault({ clear = true })
    sim:clear_sessions()
    sim:fault({ match = BS, method = "GET", status = 401 })
    put("settings after the web session went", client:settings())
    put("tostring(client)", tostring(client))
    put("tostring(session)", tostring(session))
    put("status again", client:status())
    client:close()
    put("tostring(client) closed", tostring(client))
    put("tostring(session) closed", tostring(session))
    put("status when closed", pcall(client.status, client))

    -- refused logins: wrong password, MFA, locked out; bad options
    local bad, bprobe = H.new(sim, { password = WRONG_PASSWORD, token_cache = dir .. "/bad.json" })
    put("wrong password login", bad:login())
    put("wrong password status", bad:status())
    put("wrong password tokens", bad:tokens())
    put("wrong password settings", bad:settings())
    put("tostring(bad)", tostring(bad))
    bad:close()
    sim:account({ email = "user1@example.com", mfa = true })
    local mfa, mprobe = H.new(sim, { email = "user1@example.com", password = "password1" })
    put("mfa", mfa:status())
    mfa:close()
    sim:account({ email = "user1@example.com", mfa = false, locked = true })
    local locked, lprobe = H.new(sim, { email = "user1@example.com", password = "password1" })
    put("locked", locked:status())
    locked:close()
    put("new: password of a wrong type", enphase.new({ email = H.EMAIL, password = { H.PASSWORD } }))
    put("new: bad base_url", enphase.new({ email = H.EMAIL, password = H.PASSWORD,
      base_url = "http://example.com/" .. H.PASSWORD }))
    put("new: unknown option", enphase.new({ email = H.EMAIL, password = H.PASSWORD, pasword = H.PASSWORD }))

    for n, p in ipairs({ probe, bprobe, mprobe, lprobe }) do
      for i, line in ipairs(p.lines) do
        texts[("log line %d of client %d"):format(i, n)] = line
      end
    end
    assert.truthy(#probe.lines > 20)
    local secrets = harvest(sim)
    assert.truthy(secrets[tokens.token])
    assert.truthy(secrets[tokens.xsrf])
    -- the check is able to see a leak
    assert.has_error(function() assert_clean({ probe = "x" .. tokens.token }, secrets) end)
    assert_clean(texts, secrets)
  end)

  it("in the output of every command (only token --json prints the tokens)", function()
    local texts, put = collector()
    local env = { ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD, ENPHASE_BASE_URL = sim.base_url,
                  ENPHASE_TOKEN_CACHE = dir .. "/cli.json" }
    -- In this process, with no real waiting (the seed's delays are seconds):
    -- the command's client gets an instant sleep.
    local real_new = enphase.new
    enphase.new = function(opts)
      opts.sleep = function() end
      return real_new(opts)
    end
    local function main(extra_env, ...)
      local out, err = {}, {}
      local io_ = {
        stdout = { write = function(_, ...) for _, s in ipairs({ ... }) do out[#out + 1] = s end end },
        stderr = { write = function(_, ...) for _, s in ipairs({ ... }) do err[#err + 1] = s end end },
        getenv = function(k)
          if extra_env and extra_env[k] ~= nil then
            return extra_env[k] or nil
          end
          return env[k]
        end,
      }
      local code = cli.main({ ... }, io_)
      local label = table.concat({ ... }, " ")
      put(label .. " stdout", table.concat(out))
      put(label .. " stderr", table.concat(err))
      return code, table.concat(out), table.concat(err)
    end
    local ok, perr = pcall(function()
      for _, argv in ipairs({
        { "status" }, { "status", "--json" }, { "settings" }, { "settings", "--json" },
        { "cfg", "on" }, { "cfg", "on", "--dry-run" }, { "dtg", "on" }, { "rbd", "off" },
        { "profile" }, { "profile", "self-consumption", "--reserve", "30" }, { "reserve", "40" },
        { "profile", "--cancel" }, { "schedule", "list" }, { "schedule", "list", "--json" },
        { "schedule", "add", "--type", "CFG", "--start", "02:00", "--end", "05:00", "--days", "1,2,3" },
        { "schedule", "add", "--type", "CFG", "--start", "03:00", "--end", "04:00", "--days", "1,2" },
        { "schedule", "add", "--type", "CFG", "--start", "02:00", "--end", "05:00", "--days", "1",
          "--dry-run" },
        { "schedule", "clear", "cfg", "--dry-run" },
        { "cfg", "off", "--delete-schedules" }, { "schedule", "clear", "all" },
        { "schedule", "delete", "123456789" }, { "token" }, { "status", "--no-token-cache" },
      }) do
        main(nil, table.unpack(argv))
      end
      local code = main({ ENPHASE_PASSWORD = WRONG_PASSWORD, ENPHASE_TOKEN_CACHE = false }, "status")
      assert.equal(1, code)
      sim:fault({ match = "batterySettings", status = 503, count = 5 })
      code = main(nil, "settings")
      assert.equal(1, code)
      sim:fault({ clear = true })
      code = main({ ENPHASE_TOKEN_CACHE = "/tmp/unsafe-" .. H.PASSWORD }, "status")
      assert.equal(2, code)
    end)
    enphase.new = real_new
    assert(ok, perr)

    -- and as processes, the way cron runs it
    local function run(extra, ...)
      local out, errf = os.tmpname(), os.tmpname()
      local parts = { "env -i PATH=/usr/bin:/bin" }
      for k, v in pairs(env) do
        parts[#parts + 1] = k .. "=" .. shell_quote((extra or {})[k] or v)
      end
      parts[#parts + 1] = child.enphase
      for _, a in ipairs({ ... }) do
        parts[#parts + 1] = shell_quote(a)
      end
      local _, _, code = os.execute(table.concat(parts, " ") .. " >" .. out .. " 2>" .. errf)
      local o = io.open(out):read("a")
      local e = io.open(errf):read("a")
      os.remove(out)
      os.remove(errf)
      return code, o, e
    end
    local code, out, err = run(nil, "status")
    assert.equal(0, code, err)
    put("process status", out, err)
    code, out, err = run({ ENPHASE_PASSWORD = WRONG_PASSWORD, ENPHASE_TOKEN_CACHE = dir .. "/w.json" },
      "status")
    assert.equal(1, code)
    put("process wrong password", out, err)
    code, out, err = run(nil, "token")
    assert.equal(2, code)
    put("process token without --json", out, err)
    local token_line
    code, token_line, err = run(nil, "token", "--json")
    assert.equal(0, code, err)
    put("process token --json stderr", err)

    local secrets = harvest(sim)
    local jwt = token_line:match('"token":"([^"]+)"')
    assert.truthy(secrets[jwt], "token --json prints the JWT, by design")
    assert.has_error(function() assert_clean({ token = token_line }, secrets) end)
    assert_clean(texts, secrets)
  end)
end)

describe("credentials go only to the configured host", function()
  local sim = simulator.for_file(_ENV)

  local function new(base_url, extra)
    local opts = { email = H.EMAIL, password = H.PASSWORD, base_url = base_url }
    for k, v in pairs(extra or {}) do
      opts[k] = v
    end
    return enphase.new(opts)
  end

  it("refuses plain http:// unless the host is loopback", function()
    for _, url in ipairs({ "http://enlighten.enphaseenergy.com", "http://example.com:8080/",
                           "http://127.0.0.1.example.com", "http://127.0.0.1@example.com",
                           "http://localhost.example.com", "http://10.0.0.1", "ftp://127.0.0.1" }) do
      local c, err, kind = new(url)
      assert.is_nil(c, url)
      assert.equal("input", kind, url)
      assert.falsy(err:find(H.PASSWORD, 1, true))
    end
    for _, url in ipairs({ "http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1",
                           "http://127.1.2.3:1", "https://enlighten.enphaseenergy.com" }) do
      local c = assert(new(url))
      c:close()
    end
  end)

  it("refuses verify_tls=false unless the host is loopback", function()
    for _, url in ipairs({ "https://enlighten.enphaseenergy.com", "https://10.0.0.1:8443" }) do
      local c, err, kind = new(url, { verify_tls = false })
      assert.is_nil(c)
      assert.equal("input", kind)
      assert.truthy(err:find("verify_tls", 1, true))
    end
    for _, url in ipairs({ "https://127.0.0.1:1", "https://localhost:1" }) do
      local c = assert(new(url, { verify_tls = false }))
      c:close()
    end
  end)

  local function other_host(path)
    return "http://localhost:" .. sim.port .. path
  end

  it("refuses a redirect to another host during discovery, and sends nothing there", function()
    -- GET / -> /web/<site>/today (same host) -> 302 to another host
    sim:fault({ match = "/web/", method = "GET", status = 302,
      headers = { Location = other_host("/web/999/today") } })
    local client, probe = H.new(sim)
    local st, err, kind = client:status()
    assert.is_nil(st)
    assert.equal("protocol", kind)
    assert.truthy(err:find("refusing a redirect away from 127.0.0.1", 1, true), err)
    assert.same({}, sim:requests_matching(nil, "/web/999"))
    for _, e in ipairs(sim:log()) do
      assert.truthy(e.headers.host:find("^127%.0%.0%.1:"), e.path)
    end
    client:close()
    assert.falsy(table.concat(probe.lines, "\n"):find(H.PASSWORD, 1, true))
  end)

  it("follows no redirect of the login steps or the battery API", function()
    sim:fault({ match = "/login", method = "GET", status = 302,
      headers = { Location = other_host("/login") } })
    local client = H.new(sim)
    local ok, _, kind = client:login()
    assert.is_nil(ok)
    assert.equal("http", kind)
    assert.equal(1, #sim:requests_matching("GET", "/login"))
    -- the form is posted once, to base_url; its redirect is not followed
    sim:fault({ match = "/login/login", method = "POST", status = 307,
      headers = { Location = other_host("/steal") } })
    ok, _, kind = client:login()
    assert.is_nil(ok)
    assert.equal("auth", kind)
    assert.equal(1, #sim:requests_matching("POST", "/login/login"))
    assert.same({}, sim:requests_matching(nil, "/steal"))
    client:close()
    -- an API answer redirecting elsewhere is a failure, not a new request
    client = H.new(sim)
    assert(client:login())
    sim:fault({ match = "batterySettings", status = 302, headers = { Location = other_host("/steal") } })
    local settings
    settings, _, kind = client:settings()
    assert.is_nil(settings)
    assert.equal("http", kind)
    assert.same({}, sim:requests_matching(nil, "/steal"))
    client:close()
  end)
end)
