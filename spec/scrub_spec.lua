-- What a server echoes never reaches the user raw: returned messages, log
-- lines and the CLI's stderr are scrubbed of every secret the session holds
-- (password, JWT, XSRF token, cookie values) and of secret-shaped text, of
-- terminal escapes and control characters, and long text is cut.
local redact = require("enphase.util.redact")
local simulator = require("helpers.sim")
local H = require("helpers.client")
local cli = require("helpers.cli")

local BC = "/service/batteryConfig/api/v1"
local SETTINGS = BC .. "/batterySettings/" .. H.SITE_ID

local ESCAPES = "\27[2J\27[31mred\27[0m\27]0;owned\7\r\nFAKE LOG LINE\0\8"

-- Asserts that `text` shows none of `secrets` and no control character.
local function clean(text, secrets, what)
  for _, s in ipairs(secrets) do
    assert.falsy(text:find(s, 1, true), ("%s shows %q: %s"):format(what, s, text))
  end
  assert.falsy(text:find("[%c]"), what .. " has a control character: " .. ("%q"):format(text))
end

describe("redact.scrub", function()
  it("hides the secrets given, longest first, and secret-shaped text", function()
    local jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"
    local s = redact.scrub("a hunter22 b hunter22x c " .. jwt .. " _enlighten_4_session=abc; "
      .. "BP-XSRF-Token=zzz e-auth-token: qqq", { "hunter22", "hunter22x", "abc" })
    assert.equal("a [REDACTED] b [REDACTED] c [REDACTED] _enlighten_4_session=[REDACTED]; "
      .. "BP-XSRF-Token=[REDACTED] e-auth-token: [REDACTED]", s)
  end)

  it("drops terminal escapes and shows other control characters", function()
    assert.equal("red\\013\\010FAKE LOG LINE\\000\\008", redact.scrub(ESCAPES, {}))
  end)

  it("cuts long text once, never inside a UTF-8 character", function()
    local s = redact.scrub(("é"):rep(100000), {})
    assert.truthy(#s <= redact.MAX_MESSAGE, #s)
    -- every "é" whole (C3 A9), then the ASCII suffix: not cut inside a character
    assert.truthy(s:match("^[^\195\169]*$") == nil and s:gsub("\195\169", ""):match("^[\1-\127]*$"),
      "cut inside a character")
    assert.equal(s, redact.scrub(s, {}))
    assert.truthy(s:find("200000 bytes", 1, true), s)
  end)
end)

describe("messages built from a server's answer", function()
  local sim = simulator.for_file(_ENV)

  -- The secrets a warm client holds: password, JWT, XSRF token, cookies.
  local function held(client)
    local t = assert(client:tokens())
    local list = { H.PASSWORD, t.token, t.xsrf }
    for _, line in ipairs(client.ctx.session:export_state().cookies) do
      list[#list + 1] = line:match("([^\t]+)$")
    end
    return list
  end

  it("show no secret, no escape, and are cut", function()
    local client, probe = H.new(sim)
    local secrets = held(client)
    assert.truthy(#secrets >= 4)
    local echo = table.concat(secrets, " ") .. " _enlighten_4_session=" .. secrets[4]
    sim:fault({ path = SETTINGS, method = "GET", status = 400, count = 5,
      body = '{"code":"BAD","message":"' .. echo .. ' ' .. ESCAPES:gsub("%c", function(c)
        return ("\\u%04x"):format(c:byte())
      end) .. ("x"):rep(100000) .. '"}' })
    local s, err, kind = client:settings()
    assert.is_nil(s)
    assert.equal("http", kind)
    clean(err, secrets, "the returned message")
    assert.truthy(#err <= redact.MAX_MESSAGE, #err)
    assert.truthy(err:find("[REDACTED]", 1, true), err)
    for _, line in ipairs(probe.lines) do
      clean(line, secrets, "a log line")
    end
    client:close()
  end)

  it("show no secret or escape on the CLI's stderr", function()
    local jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    sim:fault({ path = SETTINGS, method = "GET", status = 400, count = 5,
      body = '{"message":"' .. H.PASSWORD .. " " .. jwt .. ' _enlighten_4_session=s3cr3tc00k1e '
        .. '\\u001b[2J\\u001b]0;owned\\u0007 ' .. ("y"):rep(100000) .. '"}' })
    local code, out, err = cli.run({ ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD,
      ENPHASE_BASE_URL = sim.base_url }, "settings", "--no-token-cache")
    assert.equal(1, code, err)
    assert.equal("", out)
    err = err:gsub("\n$", "")
    clean(err, { H.PASSWORD, jwt, "s3cr3tc00k1e" }, "stderr")
    assert.truthy(#err < 2 * redact.MAX_MESSAGE, #err)
  end)
end)
