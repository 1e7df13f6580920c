-- Unit specs of the C module enphase.core: everything that needs no server.
-- Build first: cmake -S . -B build && cmake --build build
local core = require("enphase.core")
local store = require("enphase.store")

-- base64url without padding, written here so the specs do not trust C.
local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local function b64url(s, pad)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local chunk = ""
    for k = 3, 0, -1 do
      local v = math.floor(n / 64 ^ k) % 64
      chunk = chunk .. B64:sub(v + 1, v + 1)
    end
    if not b then
      chunk = chunk:sub(1, 2) .. (pad and "==" or "")
    elseif not c then
      chunk = chunk:sub(1, 3) .. (pad and "=" or "")
    end
    out[#out + 1] = chunk
  end
  return table.concat(out)
end

local function jwt(payload, pad)
  return b64url('{"alg":"HS256","typ":"JWT"}', pad) .. "."
    .. b64url(payload, pad) .. ".c2lnbmF0dXJl"
end

local CLOSED_PORT = "http://127.0.0.1:1"

local function session(extra)
  local opts = { base_url = CLOSED_PORT, email = "demo@example.com",
                 password = "s3cret&+% =?pw", connect_timeout = 5, timeout = 5 }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return core.new(opts)
end

describe("enphase.core", function()
  it("names its version", function()
    assert.equal("lua-enphase 0.1.0", core._VERSION)
  end)

  describe("jwt_exp", function()
    it("reads exp from an unpadded JWT", function()
      assert.equal(1767225600, store.jwt_exp(jwt('{"exp":1767225600}')))
    end)

    it("reads exp from a padded JWT", function()
      local payload = '{"exp":1767225600,"a":"x"}' -- 26 bytes: needs "=="
      local token = jwt(payload, true)
      assert.truthy(token:find("=", 1, true))
      assert.equal(1767225600, store.jwt_exp(token))
    end)

    it("decodes the url-safe characters - and _", function()
      local token = jwt('{"x":">>>???","exp":42}')
      local payload = token:match("^[^.]+%.([^.]+)%.")
      assert.truthy(payload:find("-", 1, true))
      assert.truthy(payload:find("_", 1, true))
      assert.equal(42, store.jwt_exp(token))
    end)

    it("returns an integer", function()
      assert.equal("integer", math.type(store.jwt_exp(jwt('{"exp":7}'))))
    end)

    it("ignores exp inside nested objects", function()
      local v, msg = store.jwt_exp(jwt('{"data":{"exp":5}}'))
      assert.is_nil(v)
      assert.matches("no numeric exp", msg)
    end)

    local bad = {
      ["an empty string"] = "",
      ["one part"] = "abc",
      ["two parts"] = "abc.def",
      ["four parts"] = "a.b.c.d",
      ["an empty payload"] = "abc..sig",
      ["a payload with a bad character"] = "abc.ab*d.sig",
      ["a payload that is standard base64"] = "abc." .. b64url('{"exp":1}'):gsub("-", "+") .. "+/.sig",
      ["a payload that is not JSON"] = "abc." .. b64url("not json") .. ".sig",
      ["a payload that is truncated JSON"] = "abc." .. b64url('{"exp":1') .. ".sig",
      ["no exp"] = jwt('{"iat":1}'),
      ["a string exp"] = jwt('{"exp":"1767225600"}'),
      ["a fractional exp"] = jwt('{"exp":1767225600.5}'),
      ["an exponent exp"] = jwt('{"exp":1.7e9}'),
      ["a negative exp"] = jwt('{"exp":-1}'),
      ["a huge exp"] = jwt('{"exp":99999999999999}'),
      ["an exp beyond int64"] = jwt('{"exp":99999999999999999999999}'),
      ["a payload that is an array"] = jwt('[{"exp":1}]'),
    }
    for what, token in pairs(bad) do
      it("refuses " .. what .. " with a message", function()
        local v, msg = store.jwt_exp(token)
        assert.is_nil(v)
        assert.is_string(msg)
        assert.is_nil(msg:find(token ~= "" and token or "\0", 1, true))
      end)
    end

    it("raises on a non-string argument", function()
      assert.has_error(function() store.jwt_exp({}) end)
    end)
  end)

  describe("extract_authenticity_token", function()
    local extract = core.extract_authenticity_token

    it("finds the hidden input of the seed's login page", function()
      assert.equal("abc123", extract(
        '<form><input type="hidden" name="authenticity_token" value="abc123" /></form>'))
    end)

    it("accepts the attributes in any order and single quotes", function()
      assert.equal("t/o+k==", extract(
        "<input value='t/o+k==' type='hidden' name='authenticity_token'>"))
    end)

    it("accepts unquoted attributes and upper-case tags", function()
      assert.equal("tok", extract("<INPUT NAME=authenticity_token VALUE=tok>"))
    end)

    it("decodes HTML entities", function()
      assert.equal([[a&b"c'd<e>fAB]], extract(
        '<input name="authenticity_token" value="a&amp;b&quot;c&#39;d&lt;e&gt;f&#65;&#x42;">'))
    end)

    it("leaves unknown entities as they are", function()
      assert.equal("a&nbsp;b&#xZZ;", extract(
        '<input name="authenticity_token" value="a&nbsp;b&#xZZ;">'))
    end)

    it("falls back to the csrf-token meta tag", function()
      assert.equal("meta+tok=", extract(
        '<head><meta name="csrf-token" content="meta+tok="></head><form></form>'))
    end)

    it("prefers the hidden input to the meta tag", function()
      assert.equal("input", extract(
        '<meta name="csrf-token" content="meta"><input name="authenticity_token" value="input">'))
    end)

    it("takes the first token", function()
      assert.equal("one", extract(
        '<input name="authenticity_token" value="one"><input name="authenticity_token" value="two">'))
    end)

    it("skips other inputs, comments and empty values", function()
      assert.equal("real", extract(table.concat({
        '<input name="utf8" value="x">',
        '<!-- <input name="authenticity_token" value="commented"> -->',
        '<input name="authenticity_token" value="">',
        '<input name="authenticity_token" value="real">',
      })))
    end)

    it("answers nil when there is no token", function()
      assert.is_nil(extract("<html><body>Invalid email or password</body></html>"))
      assert.is_nil(extract(""))
      assert.is_nil(extract('<input name="authenticity_token"'))
    end)

    it("answers nil for a token longer than 1024 bytes", function()
      assert.is_nil(extract('<input name="authenticity_token" value="'
        .. ("x"):rep(2000) .. '">'))
    end)
  end)

  describe("site_id_from_url", function()
    local site = core.site_id_from_url
    it("reads /web/<id>", function()
      assert.equal(5652514, site("https://enlighten.enphaseenergy.com/web/5652514/today"))
    end)
    it("reads /pv/systems/<id>", function()
      assert.equal(123, site("https://enlighten.enphaseenergy.com/pv/systems/123/overview"))
    end)
    it("reads /systems/<id>", function()
      assert.equal(77, site("http://127.0.0.1:8087/systems/77"))
    end)
    it("reads a relative URL and stops at the query", function()
      assert.equal(9, site("/web/9?from=/web/10"))
      assert.is_nil(site("https://h/app?next=/web/10"))
      assert.is_nil(site("https://h/app#/web/10"))
    end)
    it("takes the first match", function()
      assert.equal(1, site("https://h/systems/1/web/2"))
    end)
    it("returns integers up to the largest int64 (Lua 5.1: 2^53, the last exact double)", function()
      if _VERSION == "Lua 5.1" then -- refused beyond, never rounded
        assert.equal(9007199254740992, site("https://h/web/9007199254740992"))
        assert.is_nil(site("https://h/web/9007199254740993"))
        assert.is_nil(site("https://h/web/9223372036854775807"))
        return
      end
      local id = site("https://h/web/9223372036854775807")
      assert.equal(math.maxinteger, id)
      assert.equal("integer", math.type(id))
    end)
    it("refuses digits that do not fit, zero and trailing letters", function()
      assert.is_nil(site("https://h/web/9223372036854775808"))
      assert.is_nil(site("https://h/web/0"))
      assert.is_nil(site("https://h/web/12abc"))
      assert.is_nil(site("https://h/login"))
      assert.is_nil(site("https://web/12"))
    end)
  end)

  describe("urlencode", function()
    it("encodes the characters that break a form", function()
      assert.equal("a%26b%2Bc%25d%20e", core.urlencode("a&b+c%d e"))
    end)
    it("keeps the unreserved characters and encodes UTF-8 bytes", function()
      assert.equal("AZaz09-._~%E2%9C%93%00", core.urlencode("AZaz09-._~\226\156\147\0"))
    end)
  end)

  describe("new", function()
    -- Ranges are options.lua's (spec/options_spec.lua); the C module only
    -- guards against values of the wrong type.
    it("raises on arguments of the wrong type", function()
      local base = { base_url = CLOSED_PORT, email = "e", password = "p" }
      local function with(k, v)
        local t = {}
        for key, val in pairs(base) do t[key] = val end
        t[k] = v
        return t
      end
      local cases = {
        { "nil options", nil },
        { "string options", "https://x" },
        { "no base_url", with("base_url", nil) },
        { "a non-http base_url", with("base_url", "ftp://example.com") },
        { "a base_url that is no URL", with("base_url", "not a url") },
        { "no email", with("email", nil) },
        { "a numeric email", with("email", 42) },
        { "no password", with("password", nil) },
        { "a table password", with("password", {}) },
        { "a string timeout", with("timeout", "30") },
        { "a string verify_tls", with("verify_tls", "no") },
        { "a site that is no table", with("site", 5652514) },
        { "a JWT record that is no table", with("jwt", "eyJ") },
        { "a numeric user_agent", with("user_agent", 1) },
      }
      for _, case in ipairs(cases) do
        assert.has_error(function() core.new(case[2]) end, nil, case[1])
      end
    end)

    it("names the bad field in the error", function()
      local ok, err = pcall(core.new, { base_url = CLOSED_PORT, email = "e",
                                        password = "p", timeout = "x" })
      assert.is_false(ok)
      assert.matches("timeout: number expected, got string", err)
    end)

    it("reads the ids from the site's facts, integral floats too, as cjson decodes them", function()
      local s = session({ site = { site_id = 5652514.0, user_id = 4980363.0 } })
      local info = s:info()
      assert.equal(5652514, info.site_id)
      assert.equal("integer", math.type(info.site_id))
      assert.equal("integer", math.type(info.user_id))
      assert.equal("enphase.session (site 5652514)", tostring(s))
      s:close()
    end)

    it("starts without tokens", function()
      local s = session()
      local info = s:info()
      assert.is_false(info.has_jwt)
      assert.is_false(info.has_xsrf)
      assert.equal(0, info.requests)
      assert.is_nil(info.exp)
      assert.same({}, s:secrets())
      s:close()
    end)
  end)

  describe("a session", function()
    it("never shows the password in tostring or info", function()
      local s = session({ site = { site_id = 1 } })
      assert.is_nil(tostring(s):find("s3cret", 1, true))
      for k, v in pairs(s:info()) do
        assert.is_nil(tostring(k):find("s3cret", 1, true))
        assert.is_nil(tostring(v):find("s3cret", 1, true))
      end
      s:close()
    end)

    it("closes idempotently, and refuses methods after close", function()
      local s = session()
      s:close()
      s:close()
      assert.equal("enphase.session (closed)", tostring(s))
      for _, m in ipairs({ "login", "refresh_jwt", "discover_site", "discover_user",
                           "fetch_xsrf", "info", "secrets" }) do
        assert.has_error(function() s[m](s) end, "attempt to use a closed session")
      end
      assert.has_error(function() s:request("GET", "/") end,
        "attempt to use a closed session")
      assert.is_nil(s.set_ids) -- the ids are the site's facts (site.lua)
    end)

    it("is closed at the end of a <close> scope (Lua 5.4)", function()
      if _VERSION ~= "Lua 5.4" then
        return -- no to-be-closed variables before 5.4: __gc does the same work
      end
      local kept = assert(load([[
        local s <close> = ...
        return s
      ]]))(session())
      assert.equal("enphase.session (closed)", tostring(kept))
    end)

    it("is collected without leaks or errors", function()
      for _ = 1, 20 do session() end
      collectgarbage()
      collectgarbage()
    end)

    it("raises when a method gets another object", function()
      local s = session()
      assert.has_error(function() s.info({}) end)
      assert.has_error(function() s.close(io.stdout) end)
      s:close()
    end)

    it("keeps no ids of its own: it reads those of the site's facts when it needs them", function()
      local site = {}
      local s = session({ site = site })
      assert.is_nil(s:info().site_id)
      site.site_id, site.user_id = 12.0, 34
      assert.equal(12, s:info().site_id)
      assert.equal(34, s:info().user_id)
      site.user_id = 35
      assert.equal(35, s:info().user_id)
      assert.equal("/service/batteryConfig/api/v1/batterySettings/12", s:plan("settings_get").path)
      for _, bad in ipairs({ 1.5, "12", 0, -3, {} }) do -- not an id: not known
        site.site_id = bad
        assert.is_nil(s:info().site_id)
        assert.equal("/service/batteryConfig/api/v1/batterySettings/<site>", s:plan("settings_get").path)
      end
      s:close()
    end)

    it("raises when a step needs the site id and has none", function()
      local s = session()
      assert.has_error(function() s:discover_user() end)
      assert.has_error(function() s:fetch_xsrf() end)
      s:close()
    end)

    it("checks the arguments of request", function()
      local s = session()
      assert.has_error(function() s:request("TRACE", "/") end)
      assert.has_error(function() s:request("GET", "no-slash") end)
      assert.has_error(function() s:request("GET", "/a b") end)
      assert.has_error(function() s:request("GET", "/", { body = 1 }) end)
      assert.has_error(function() s:request("GET", "/", { query = "a=\n" }) end)
      assert.has_error(function() s:request("GET", "/", "query") end)
      s:close()
    end)
  end)

  describe("against a closed port", function()
    it("fails a request with kind network and curl's message", function()
      local s = session()
      local status, msg, kind = s:request("GET", "/service/x", { query = "a=1" })
      assert.is_nil(status)
      assert.equal("network", kind)
      assert.matches("^GET /service/x: ", msg)
      assert.matches("Couldn't connect to server", msg)
      s:close()
    end)

    it("fails each protocol step with kind network, without secrets", function()
      local s = session({ site = { site_id = 5652514, user_id = 4980363 } })
      local steps = {
        { "login", "^GET /login: " },
        { "refresh_jwt", "^GET /app%-api/jwt_token%.json: " },
        { "discover_site", "^GET /: " },
        { "discover_user", "^GET /app%-api/5652514/data%.json: " },
        { "fetch_xsrf", "^POST /service/batteryConfig/api/v1/battery/sites/5652514/schedules/isValid: " },
      }
      for _, step in ipairs(steps) do
        local v, msg, kind = s[step[1]](s)
        assert.is_nil(v, step[1])
        assert.equal("network", kind, step[1])
        assert.matches(step[2], msg)
        assert.is_nil(msg:find("s3cret", 1, true))
      end
      assert.equal(0, s:info().requests)
      s:close()
    end)
  end)

  describe("error kinds", function()
    it("spells each C kind once, in src/errors.h, and errors.lua documents it", function()
      local kinds = setmetatable({
        -- the one kind only enphase.core's own callers see: auth.lua turns it
        -- into a fresh login (doc/internals.md section 1)
        session = "the web session has expired",
      }, { __index = require("enphase.errors").kinds })
      local header = assert(io.open("src/errors.h")):read("a")
      local seen = {}
      for name, kind in header:gmatch('#define KIND_(%u+) "([%l_]+)"') do
        assert.equal(name:lower(), kind)
        assert.is_nil(seen[kind], kind)
        seen[kind] = true
        assert.is_string(kinds[kind], kind .. " is not in enphase.errors.kinds")
      end
      assert.truthy(seen.input and seen.network and seen.session)
      -- nowhere else in C: no kind written as a string literal
      local list = assert(io.popen("ls src/*.c"))
      for file in list:lines() do
        local src = assert(io.open(file)):read("a")
        for kind in pairs(seen) do
          assert.is_nil(src:find('push_failure%(L, "' .. kind .. '"'), file)
          assert.is_nil(src:find('pushliteral%(L, "' .. kind .. '"%)'), file)
        end
      end
      list:close()
    end)
  end)
end)
