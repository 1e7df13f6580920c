-- The options of enphase.new are checked once, in lua/enphase/util/options.lua:
-- a wrong one comes back as `nil, message, "input"`, never raises, and the
-- message names the option without repeating a huge value in full.
local enphase = require("enphase")
local simulator = require("helpers.sim")
local H = require("helpers.client")
local cli = require("helpers.cli")

local BASE = { email = "demo@example.com", password = "demo-password",
               base_url = "http://127.0.0.1:1" }

local function with(key, value)
  local t = {}
  for k, v in pairs(BASE) do
    t[k] = v
  end
  t[key] = value
  return t
end

-- Asserts that enphase.new(opts) refuses with an input failure naming `key`.
local function refused(opts, key)
  local ok, client, err, kind = pcall(enphase.new, opts)
  assert.is_true(ok, "raised: " .. tostring(client))
  assert.is_nil(client, key .. " was accepted")
  assert.equal("input", kind, err)
  assert.truthy(err:find(key, 1, true), err)
  assert.truthy(#err < 400, "message too long: " .. #err)
  return err
end

describe("enphase.new options", function()
  it("refuses the values that used to raise in C", function()
    refused(with("site_id", 0), "site_id")
    refused(with("site_id", "0"), "site_id")
    refused(with("user_id", "000"), "user_id")
    refused(with("timeout", math.huge), "timeout")
    refused(with("timeout", 1e12), "timeout")
    refused(with("timeout", 0 / 0), "timeout")
    refused(with("connect_timeout", 1e12), "connect_timeout")
    refused(with("max_body", 1.5), "max_body")
    refused(with("max_body", math.huge), "max_body")
    refused(with("base_url", "http://a@evil.com@127.0.0.1"), "base_url")
    refused(with("base_url", "http://user:pw@127.0.0.1"), "base_url")
    refused(with("base_url", "http://127.0.0.1:99999"), "base_url")
    refused(with("base_url", "http://127.0.0.1:x"), "base_url")
    refused(with("base_url", "http://127.0.0.1 /"), "base_url")
    refused(with("base_url", "https://exa mple.com"), "base_url")
    refused(with("base_url", "https://example.com/?q=1"), "base_url")
    refused(with("base_url", "https://example.com/#f"), "base_url")
    refused(with("base_url", "https://[::1"), "base_url")
    refused(with("user_agent", "x\r\nX-Injected: 1"), "user_agent")
    refused(with("attempts", 1e9), "attempts")
    refused(with("attempts", 2.5), "attempts")
    refused(with("pending_checks", -1), "pending_checks")
    refused(with("timezone", "not a zone"), "timezone")
  end)

  it("accepts the good ones", function()
    for _, url in ipairs({ "https://enlighten.enphaseenergy.com", "http://127.0.0.1:8087",
                           "http://localhost:8087/", "http://[::1]:8087", "https://example.com/base",
                           "https://EXAMPLE.com:443" }) do
      local c, err = enphase.new(with("base_url", url))
      assert.truthy(c, err)
      c:close()
    end
    local c, err = enphase.new(with("site_id", "5652514"))
    assert.truthy(c, err)
    assert.equal("enphase.client (site 5652514)", tostring(c))
    c:close()
  end)

  it("log_level: the lines below it never reach log; a wrong level is refused", function()
    refused(with("log_level", "error"), "log_level")
    refused(with("log_level", 3), "log_level")
    local function levels_seen(level)
      local seen = {}
      local opts = with("log_level", level)
      opts.attempts = 1 -- 127.0.0.1:1 refuses the connection: one info and one warning line
      opts.log = function(l)
        seen[l] = (seen[l] or 0) + 1
      end
      local c = assert(enphase.new(opts))
      assert.is_nil(c:status())
      c:close()
      return seen
    end
    local warn_only = levels_seen("warn")
    assert.truthy(warn_only.warn, "no warning logged")
    assert.same({ "warn" }, (function()
      local t = {}
      for l in pairs(warn_only) do
        t[#t + 1] = l
      end
      return t
    end)())
    local all = levels_seen(nil)
    assert.truthy(all.info and all.warn, "the default passes info and warn lines")
    assert.equal(warn_only.warn, all.warn)
  end)

  it("never raises, whatever the value of whatever option", function()
    local huge = ("x"):rep(100 * 1024)
    local values = { 0, -1, 0.5, 1.5, 1e12, math.huge, -math.huge, 0 / 0, math.maxinteger,
                     math.mininteger, "", "0", "1", huge, "\0", {}, true, false, print }
    local keys = { "no_such_option" }
    for key in pairs(require("enphase.util.options").KNOWN) do
      keys[#keys + 1] = key
    end
    table.sort(keys)
    for _, key in ipairs(keys) do
      for _, v in ipairs(values) do
        local ok, c, err, kind = pcall(enphase.new, with(key, v))
        assert.is_true(ok, ("%s = %s raised: %s"):format(key, tostring(v):sub(1, 40), tostring(c)))
        if c then
          c:close()
        else
          assert.equal("input", kind, err)
          assert.truthy(#err < 400, ("%s: message of %d bytes"):format(key, #err))
        end
      end
    end
  end)

  it("never raises for a base_url libcurl would not read", function()
    local urls = { "http://999.999.999.999", "http://256.1.1.1", "http://0x7f.1", "http://1.2.3",
      "http://[:::1]", "http://[1::2::3]", "http://[::1%eth0]", "http://[12345::1]",
      "http://[::ffff:1.2.3.4]", "http://[::1]:0", "http://-a.example", "http://a..b",
      "http://_x.localhost", "HTTP://LOCALHOST:8087", "http://localhost.:1/a/b/", "http://:80",
      "http://127.0.0.1:080", "http://%41.example", "https://xn--nxasmq6b.example",
      "http://127.0.0.1/%zz", "http://127.0.0.1/a b", "http://127.0.0.1/\\x" }
    for _, url in ipairs(urls) do
      local ok, c, err, kind = pcall(enphase.new, with("base_url", url))
      assert.is_true(ok, url .. " raised: " .. tostring(c))
      if c then
        c:close()
      else
        assert.equal("input", kind, err)
      end
    end
  end)
end)

describe("the CLI's settings", function()
  local sim = simulator.for_file(_ENV)
  local env

  before_each(function()
    env = { ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD, ENPHASE_BASE_URL = sim.base_url }
  end)

  local function usage_error(extra, ...)
    local e = {}
    for k, v in pairs(env) do
      e[k] = v
    end
    for k, v in pairs(extra) do
      e[k] = v
    end
    local code, out, err = cli.run(e, ...)
    assert.equal(2, code, err)
    assert.equal("", out)
    assert.falsy(err:find("traceback", 1, true), err)
    return err
  end

  it("exit 2 for ENPHASE_SITE_ID=0 and a bad ENPHASE_BASE_URL, sending nothing", function()
    local err = usage_error({ ENPHASE_SITE_ID = "0" }, "status", "--no-token-cache")
    assert.truthy(err:find("site_id", 1, true), err)
    usage_error({ ENPHASE_BASE_URL = "http://a@evil.com@127.0.0.1" }, "status", "--no-token-cache")
    assert.equal(0, #sim:log())
  end)

  it("exit 2 for a --config that is a folder or a FIFO, without hanging", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -m 700 " .. dir))
    local err = usage_error({}, "status", "--config", dir)
    assert.truthy(err:find("regular file", 1, true), err)
    local fifo = dir .. "/fifo"
    assert(os.execute("mkfifo -m 600 " .. fifo))
    local t0 = os.time()
    err = usage_error({}, "status", "--config", fifo)
    assert.truthy(os.time() - t0 < 10)
    assert.truthy(err:find("regular file", 1, true), err)
    os.execute("rm -rf " .. dir)
  end)
end)
