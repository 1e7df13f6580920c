-- Accounts with multi-factor authentication: the explicit login with a
-- one-time code (library and CLI), the session kept for unattended runs,
-- and no password login ever tried unattended.
local simulator = require("helpers.sim")
local H = require("helpers.client")
local procs = require("helpers.procs")
local json = require("cjson")

local EMAIL, PASSWORD = "mfa@example.com", "pw-mfa"

local function b64(s)
  local abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  return ((s:gsub(".", function(c)
    local bits = ""
    local n = c:byte()
    for i = 8, 1, -1 do
      bits = bits .. math.floor(n / 2 ^ (i - 1)) % 2
    end
    return bits
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then
      return ""
    end
    local n = tonumber(x, 2)
    return abc:sub(n + 1, n + 1)
  end) .. ({ "", "==", "=" })[#s % 3 + 1])
end

describe("a multi-factor account", function()
  local sim = simulator.for_file(_ENV)
  local dir

  before_each(function()
    sim:account({ email = EMAIL, password = PASSWORD, site_id = 5, user_id = 6, mfa = true })
    dir = procs.tmpdir()
  end)

  after_each(function()
    procs.rmdir(dir)
  end)

  local function new(extra)
    local opts = { email = EMAIL, password = PASSWORD }
    for k, v in pairs(extra or {}) do
      opts[k] = v
    end
    return H.new(sim, opts)
  end

  local function posts(path)
    return #sim:requests_matching("POST", path)
  end

  it("stops unattended calls with mfa and never tries the password again", function()
    local client, probe = new()
    local _, err, kind = client:status()
    assert.equal("mfa", kind)
    assert.matches("enphase login", err, 1, true)
    for _ = 1, 3 do
      probe.advance(3600)
      _, err, kind = client:settings()
      assert.equal("mfa", kind)
      assert.matches("run `enphase login`", err, 1, true)
    end
    assert.equal(1, posts("/login/login"))
    assert.equal(0, posts("/generate_mfa_login_otp"))
  end)

  it("logs in with the code Enlighten sends, sent as the API wants it", function()
    local client, probe = new()
    local ok, err, kind, sent = client:login({ force = true })
    assert.is_nil(ok)
    assert.same({ "mfa", "sent" }, { kind, sent })
    assert.matches("client:login{otp=CODE}", err, 1, true)
    local gen = sim:requests_matching("POST", "/generate_mfa_login_otp")[1]
    assert.equal("locale=en", gen.body)
    assert.is_string(gen.headers["x-csrf-token"])
    assert.equal("XMLHttpRequest", gen.headers["x-requested-with"])
    local code = sim:otp(EMAIL).code
    assert.matches("^%d%d%d%d%d%d$", code)
    assert.is_true(client:login({ otp = code }))
    local v = sim:requests_matching("POST", "/validate_login_otp")[1]
    assert.equal(("email=%s&otp=%s&xhrFields%%5BwithCredentials%%5D=true"):format(
      b64(EMAIL):gsub("=", "%%3D"), b64(code):gsub("=", "%%3D")), v.body)
    assert.equal(gen.headers["x-csrf-token"], v.headers["x-csrf-token"])
    local st = assert(client:status())
    assert.same({ "OK", 5, 6 }, { st.status, st.site_id, st.user_id })
    -- the code is in no log line, message or tostring
    for _, line in ipairs(probe.lines) do
      assert.falsy(line:find(code, 1, true), line)
    end
    assert.falsy(tostring(client):find(code, 1, true))
  end)

  it("answers a wrong code with mfa, keeps the login under way, and blocks after 3", function()
    local client = new()
    client:login({ force = true })
    local code = sim:otp(EMAIL).code
    local wrong = code == "111111" and "222222" or "111111"
    local ok, err, kind = client:login({ otp = wrong })
    assert.is_nil(ok)
    assert.equal("mfa", kind)
    assert.matches("not accepted", err, 1, true)
    assert.falsy(err:find(wrong, 1, true))
    ok = client:login({ otp = wrong })
    assert.is_nil(ok)
    ok, err, kind = client:login({ otp = wrong })
    assert.is_nil(ok)
    assert.equal("locked", kind)
    assert.matches("blocked", err, 1, true)
    assert.is_true(sim:otp(EMAIL).blocked)
    -- blocked: the right code no longer helps, and the next tries meet 429
    client:login({ force = true })
    assert.equal("locked", select(3, client:login({ force = true })))
    assert.equal(3, posts("/validate_login_otp"))
  end)

  it("checks the code before sending it", function()
    local client = new()
    client:login({ force = true })
    local n = #sim:log()
    for _, bad in ipairs({ 123456, "12a456", "12", ("1"):rep(20), "" }) do
      local ok, err, kind = client:login({ otp = bad })
      assert.is_nil(ok)
      assert.equal("input", kind, err)
    end
    assert.equal("input", select(3, client:login({ resend = "yes" })))
    assert.equal("input", select(3, client:login({ code = "123456" })))
    assert.equal(n, #sim:log())
    local fresh = new()
    local _, err, kind = fresh:login({ otp = "123456" })
    assert.equal("mfa", kind)
    assert.matches("no multi-factor login under way", err, 1, true)
  end)

  it("sends a new code when asked, 30 s apart at least", function()
    local client, probe = new()
    client:login({ force = true })
    local first = sim:otp(EMAIL).code
    local ok, err, kind = client:login({ resend = true })
    assert.is_nil(ok)
    assert.equal("input", kind)
    assert.matches("ask for a new one in %d+ s", err)
    assert.equal(1, posts("/generate_mfa_login_otp"))
    probe.advance(31)
    sim:clock(31)
    local sent
    ok, err, kind, sent = client:login({ resend = true })
    assert.is_nil(ok)
    assert.matches("a new one-time code was sent", err, 1, true)
    assert.same({ "mfa", "sent" }, { kind, sent })
    assert.equal(2, sim:otp(EMAIL).sent)
    local second = sim:otp(EMAIL).code
    if first ~= second then
      assert.equal("mfa", select(3, client:login({ otp = first })))
    end
    assert.is_true(client:login({ otp = second }))
  end)

  it("keeps the session in the token cache: another process finishes the login and "
    .. "unattended runs go on until the session dies", function()
      local cache = dir .. "/c/session.json"
      local a = new({ token_cache = cache })
      assert.equal("sent", select(4, a:login({ force = true })))
      a:close()
      local ledger = procs.slurp(cache) -- the account store: the login under way in its mfa section
      assert.truthy(ledger:find('"mfa":{', 1, true))
      local code = sim:otp(EMAIL).code
      assert.falsy(ledger:find(code, 1, true))
      local b = new({ token_cache = cache })
      assert.is_true(b:login({ otp = code }))
      b:close()
      local env = { ENPHASE_EMAIL = EMAIL, ENPHASE_PASSWORD = PASSWORD,
                    ENPHASE_BASE_URL = sim.base_url, ENPHASE_TOKEN_CACHE = cache }
      local logins = posts("/login/login")
      for _ = 1, 3 do
        local r = procs.run(dir, env, { "settings", "--json" })
        assert.equal(0, r.code, r.err)
      end
      assert.equal(logins, posts("/login/login"))
      -- the session dies: unattended runs stop with mfa, no password login
      sim:revoke({})
      sim:clear_sessions()
      for _ = 1, 3 do
        local r = procs.run(dir, env, { "settings" })
        assert.equal(1, r.code)
        assert.matches("run `enphase login`", r.err, 1, true)
      end
      assert.equal(logins, posts("/login/login"))
    end)

  it("logs in from the command line: --otp in a second process, or the code asked on a terminal",
    function()
      local env = { ENPHASE_EMAIL = EMAIL, ENPHASE_PASSWORD = PASSWORD,
                    ENPHASE_BASE_URL = sim.base_url, ENPHASE_TOKEN_CACHE = dir .. "/s.json" }
      local r = procs.run(dir, env, { "login" })
      assert.equal(1, r.code)
      assert.matches("enphase login --otp CODE", r.err, 1, true)
      r = procs.run(dir, env, { "login", "--otp", "12x" })
      assert.equal(2, r.code)
      -- --otp - reads the code from standard input: never in the process list
      local rc, piped, said = H.main({ "login", "--otp", "-", "--json" }, env, {
        stdin = { read = function(_, how)
          assert.equal("l", (how:gsub("^%*", ""))) -- "*l": the format every Lua reads
          return sim:otp(EMAIL).code .. " \n"
        end },
      })
      assert.equal(0, rc, said)
      assert.equal("OK", json.decode(piped).status)
      r = procs.run(dir, env, { "status" })
      assert.equal(0, r.code, r.err)
      -- on a terminal (read_secret stands for it): a wrong code, then the right one
      sim:revoke({})
      sim:clear_sessions()
      sim:clock(31) -- Enlighten sends codes 30 s apart at most
      local asked = {}
      local code, out, err = H.main({ "login", "--token-cache", dir .. "/t.json" }, env, {
        read_secret = function(prompt)
          asked[#asked + 1] = prompt
          return #asked == 1 and "000000" or sim:otp(EMAIL).code
        end,
      })
      assert.equal(0, code, err)
      assert.equal(2, #asked)
      assert.matches("Enlighten sent a one-time code", asked[1], 1, true)
      assert.matches("status:%s+OK", out)
    end)
end)
