-- The token cache: the C pieces (private files, lock, state export/import)
-- in this process, then clients and `enphase` processes sharing a cache
-- file, asserting on what the simulator received.
local core = require("enphase.core")
local store = require("enphase.store")
local enphase = require("enphase")
local cache = require("enphase.account.cache")
local child = require("helpers.child")
local simulator = require("helpers.sim")
local procs = require("helpers.procs")
local H = require("helpers.client")
local json = require("cjson")

local shell_quote = simulator.shell_quote

local capture, slurp, spit, rmdir = procs.capture, procs.slurp, procs.spit, procs.rmdir

local function tmpdir()
  return procs.tmpdir("cache")
end

-- Names in a folder (hidden ones too), sorted; none when it does not exist.
local function listing(d)
  local names = {}
  for name in capture("ls -A " .. shell_quote(d) .. " 2>/dev/null"):gmatch("[^\n]+") do
    names[#names + 1] = name
  end
  table.sort(names)
  return names
end

local function mode(path)
  return (store.file_mode(path)) % 512 -- the permission bits
end

local function logins(sim)
  return #sim:requests_matching("POST", "/login/login")
end

local IS_ROOT = capture("id -u"):match("^0") ~= nil

describe("enphase.store private files", function()
  local dir

  before_each(function()
    dir = tmpdir()
  end)

  after_each(function()
    rmdir(dir)
  end)

  it("computes SHA-256 (FIPS 180-4 test vectors)", function()
    assert.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", store.sha256(""))
    assert.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", store.sha256("abc"))
    assert.equal("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
      store.sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))
    assert.equal("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
      store.sha256(("a"):rep(1000000)))
  end)

  it("writes a file with mode 0600 whatever the umask, and replaces it whole", function()
    local path = dir .. "/f.json"
    assert.is_true(store.write_private(path, "first"))
    assert.equal(tonumber("600", 8), mode(path))
    assert.equal("first", slurp(path))
    os.execute("chmod 644 " .. shell_quote(path))
    assert.is_true(store.write_private(path, ("x"):rep(100000)))
    assert.equal(tonumber("600", 8), mode(path))
    assert.equal(100000, #slurp(path))
    assert.is_true(store.write_private(path, ""))
    assert.equal("", slurp(path))
    assert.same({ "f.json" }, listing(dir))
  end)

  it("leaves no temporary file behind when a write fails", function()
    assert.is_true(store.make_private_dir(dir .. "/sub"))
    local ok, err, kind = store.write_private(dir .. "/sub", "data")  -- rename over a folder
    assert.is_nil(ok)
    assert.equal("input", kind)
    assert.truthy(err:find(dir .. "/sub", 1, true))
    assert.same({ "sub" }, listing(dir))
    assert.same({}, listing(dir .. "/sub"))
    ok, err, kind = store.write_private(dir .. "/missing/f", "data")
    assert.is_nil(ok)
    assert.equal("input", kind)
    assert.truthy(err:find("No such file", 1, true), err)
    ok, err, kind = store.write_private(dir .. "/", "data")
    assert.is_nil(ok)
    assert.equal("input", kind)
    assert.truthy(err:find("not a file name", 1, true), err)
    if not IS_ROOT then -- root writes anywhere
      os.execute("chmod 500 " .. shell_quote(dir .. "/sub"))
      ok, err, kind = store.write_private(dir .. "/sub/f", "data")
      assert.is_nil(ok, err)
      assert.equal("input", kind)
      assert.same({}, listing(dir .. "/sub"))
    end
  end)

  it("raises on arguments of the wrong type", function()
    assert.has_error(function() store.write_private(nil, "x") end)
    assert.has_error(function() store.write_private(dir .. "/f", {}) end)
    assert.has_error(function() store.write_private("", "x") end)
    assert.has_error(function() store.write_private("a\0b", "x") end)
    assert.has_error(function() store.check_private({}) end)
    assert.has_error(function() store.lock(dir .. "/f", -1) end)
  end)

  it("creates missing folders with mode 0700 and leaves existing ones alone", function()
    assert.is_true(store.make_private_dir(dir .. "/a/b/c"))
    for _, d in ipairs({ "/a", "/a/b", "/a/b/c" }) do
      assert.equal(tonumber("700", 8), mode(dir .. d))
    end
    os.execute("chmod 755 " .. shell_quote(dir .. "/a"))
    assert.is_true(store.make_private_dir(dir .. "/a/b/c/"))
    assert.equal(tonumber("755", 8), mode(dir .. "/a"))
    spit(dir .. "/file", "x")
    local ok, err, kind = store.make_private_dir(dir .. "/file/sub")
    assert.is_nil(ok)
    assert.equal("input", kind)
    assert.truthy(err:find("file/sub", 1, true))
  end)

  it("accepts a private file or a missing one, and refuses what others can touch", function()
    local path = dir .. "/c.json"
    assert.is_true(store.check_private(path))
    assert.is_true(store.write_private(path, "{}"))
    assert.is_true(store.check_private(path))
    os.execute("chmod 640 " .. shell_quote(path))
    local ok, err, kind = store.check_private(path)
    assert.is_nil(ok)
    assert.equal("input", kind)
    assert.truthy(err:find("mode 640", 1, true), err)
    assert.truthy(err:find("chmod 600", 1, true), err)
    os.execute("chmod 600 " .. shell_quote(path) .. "; chmod 777 " .. shell_quote(dir))
    ok, err, kind = store.check_private(path)
    assert.is_nil(ok)
    assert.equal("input", kind)
    assert.truthy(err:find("folder " .. dir .. " is writable by group or others", 1, true), err)
    os.execute("chmod 720 " .. shell_quote(dir))
    assert.is_nil((store.check_private(path)))
    os.execute("chmod 700 " .. shell_quote(dir))
    os.execute("ln -s c.json " .. shell_quote(dir .. "/link"))
    ok, err = store.check_private(dir .. "/link")
    assert.is_nil(ok)
    assert.truthy(err:find("symbolic link", 1, true), err)
    os.execute("mkdir " .. shell_quote(dir .. "/d"))
    ok, err = store.check_private(dir .. "/d")
    assert.is_nil(ok)
    assert.truthy(err:find("not a regular file", 1, true), err)
    ok, err = store.check_private(dir .. "/nowhere/c.json")
    assert.is_nil(ok)
    assert.truthy(err:find("nowhere", 1, true), err)
    ok, err = store.check_private("/tmp/enphase-x.json")
    assert.is_nil(ok)
    assert.truthy(err:find("folder /tmp is writable", 1, true), err)
  end)

  it("refuses a file or folder that belongs to another user", function()
    if not IS_ROOT then
      return -- only root can give a file away
    end
    local path = dir .. "/c.json"
    assert.is_true(store.write_private(path, "{}"))
    os.execute("chown 65534 " .. shell_quote(path))
    local ok, err, kind = store.check_private(path)
    assert.is_nil(ok)
    assert.equal("input", kind)
    assert.truthy(err:find("another user", 1, true), err)
    os.execute("chown 0 " .. shell_quote(path) .. "; chown 65534 " .. shell_quote(dir))
    ok, err = store.check_private(path)
    assert.is_nil(ok)
    assert.truthy(err:find("folder " .. dir .. " belongs to another user", 1, true), err)
    os.execute("chown 0 " .. shell_quote(dir))
  end)

  it("locks a file: a second lock waits, then fails; unlock, __close and __gc release", function()
    local path = dir .. "/c.json"
    local lock = assert(store.lock(path))
    assert.equal("enphase.lock (held)", tostring(lock))
    assert.equal(tonumber("600", 8), mode(path .. ".lock"))
    local t0 = store.monotonic()
    local again, err, kind = store.lock(path, 0.2)
    assert.is_nil(again)
    assert.equal("input", kind)
    assert.truthy(err:find("still locked", 1, true), err)
    assert.is_true(store.monotonic() - t0 >= 0.19)
    lock:unlock()
    lock:unlock() -- idempotent
    assert.equal("enphase.lock (released)", tostring(lock))
    if _VERSION == "Lua 5.4" then -- a to-be-closed variable (Lua 5.4 syntax, so load()ed)
      local scoped = assert(load([[
        local store, path = ...
        local scoped <close> = assert(store.lock(path, 0))
        return store.lock(path, 0)
      ]]))
      assert.is_nil((scoped(store, path)))
      assert.truthy(store.lock(path, 0)) -- released at scope end; this one is garbage now
    end
    collectgarbage()
    collectgarbage()
    assert.truthy(store.lock(path, 0))
    collectgarbage()
    os.execute("ln -s /etc/passwd " .. shell_quote(dir .. "/evil.lock"))
    local bad
    bad, err = store.lock(dir .. "/evil")
    assert.is_nil(bad)
    assert.truthy(err:find("evil.lock", 1, true), err)
  end)
end)

describe("session state export and import", function()
  local sim = simulator.for_file(_ENV)

  local function session(extra)
    local opts = { base_url = sim.base_url, email = H.EMAIL, password = H.PASSWORD, timeout = 5 }
    for k, v in pairs(extra or {}) do
      opts[k] = v
    end
    return core.new(opts)
  end

  -- A logged-in session and its site's facts (the ids' one home: the
  -- session reads them there, as site.lua's object in a client).
  local function logged_in()
    local site = {}
    local s = session({ site = site })
    assert(s:login())
    site.site_id = assert(s:discover_site())
    site.user_id = assert(s:discover_user())
    assert(s:fetch_xsrf())
    return s, site
  end

  it("moves a logged-in session into a new one that needs no login", function()
    local a, site = logged_in()
    local st = a:export_state()
    assert.equal(a:secrets().token, st.token)
    assert.equal(a:secrets().xsrf, st.xsrf)
    assert.equal(a:info().exp, st.exp)
    assert.same({ H.SITE_ID, H.USER_ID }, { site.site_id, site.user_id })
    assert.same({}, { st.site_id, st.user_id }) -- the site's facts own them
    assert.equal(2, #st.cookies)
    local joined = table.concat(st.cookies, "\n")
    assert.truthy(joined:find("\t_enlighten_4_session\t", 1, true))
    assert.truthy(joined:find("\tBP-XSRF-Token\t" .. st.xsrf, 1, true))
    a:close()

    local before = #sim:log()
    local b = session({ site = site })
    local g0 = b:generation()
    assert.is_true(b:import_state(st))
    local info = b:info()
    local g1 = b:generation()
    assert.is_true(g1 > g0)
    assert.same({ true, true, st.exp, H.SITE_ID, H.USER_ID },
      { info.has_jwt, info.has_xsrf, info.exp, info.site_id, info.user_id })
    assert.equal(g1, b:generation()) -- unchanged state, same generation
    local status = b:request("GET", "/service/batteryConfig/api/v1/batterySettings/" .. H.SITE_ID,
      { query = "userId=" .. H.USER_ID .. "&source=enlm" })
    assert.equal(200, status)
    -- the web session came along: a new JWT from the cookies, no login
    assert.truthy(b:refresh_jwt())
    local sent = H.lines(H.since(sim, before))
    assert.same({ "GET /service/batteryConfig/api/v1/batterySettings/" .. H.SITE_ID,
                  "GET /app-api/jwt_token.json" }, sent)
    assert.same(b:export_state().cookies, st.cookies)
    b:close()
  end)

  it("bumps the generation when the JWT, XSRF, ids or cookies change", function()
    local site = {}
    local s = session({ site = site })
    local g = s:generation()
    assert.equal(g, s:generation())
    assert(s:login())
    local g1 = s:generation()
    assert.is_true(g1 > g)
    local id = assert(s:discover_site())
    assert.equal(g1, s:generation()) -- found, not kept: the site's facts record it
    site.site_id = id
    local g2 = s:generation()
    assert.is_true(g2 > g1)
    site.user_id = assert(s:discover_user())
    assert(s:fetch_xsrf())
    local g3 = s:generation()
    assert.is_true(g3 > g2)
    s:request("GET", "/service/batteryConfig/api/v1/batterySettings/" .. H.SITE_ID,
      { query = "userId=" .. H.USER_ID .. "&source=enlm" })
    assert.equal(g3, s:generation())
    s:close()
  end)

  it("refuses a bad token, XSRF, id or cookie line and then changes nothing", function()
    local a = logged_in()
    local good = a:export_state()
    local b = session()
    local function without(field, value)
      local t = {}
      for k, v in pairs(good) do
        t[k] = v
      end
      t[field] = value
      return t
    end
    for _, case in ipairs({
      { "token", "not a jwt" }, { "token", "a.b.c" }, { "xsrf", "two words" },
      { "cookies", { "no tabs at all" } },
      { "cookies", { "127.0.0.1\tFALSE\t/\tFALSE\t0\tname\tva\nlue" } },
      { "cookies", { "# a comment\tFALSE\t/\tFALSE\t0\tname\tvalue" } },
    }) do
      local ok, err, kind = b:import_state(without(case[1], case[2]))
      assert.is_nil(ok, case[1])
      assert.equal("input", kind)
      assert.falsy(err:find(good.token, 1, true))
      assert.is_false(b:info().has_jwt)
      assert.same({}, b:export_state().cookies)
    end
    -- ids are not taken: the site's facts own them
    assert.is_true(b:import_state(without("site_id", 77)))
    assert.is_nil(b:info().site_id)
    -- no token: a login under way (a multi-factor one), its cookies and no JWT
    assert.is_true(b:import_state(without("token", nil)))
    assert.is_false(b:info().has_jwt)
    assert.same(good.cookies, b:export_state().cookies)
    assert.has_error(function() b:import_state(without("cookies", { 42 })) end)
    assert.has_error(function() b:import_state("x") end)
    a:close()
    b:close()
  end)

  it("imports cookies for base_url's host (or a parent domain) only", function()
    local a = logged_in()
    local st = a:export_state()
    a:close()
    st.cookies[#st.cookies + 1] = "evil.example.com\tFALSE\t/\tFALSE\t0\tstolen\tvalue1"
    st.cookies[#st.cookies + 1] = ".127.0.0.1.evil\tTRUE\t/\tFALSE\t0\tstolen2\tvalue2"
    local b = session()
    assert.is_true(b:import_state(st))
    local names = {}
    for _, line in ipairs(b:export_state().cookies) do
      names[#names + 1] = line:match("\t([^\t]+)\t[^\t]*$")
    end
    table.sort(names)
    assert.same({ "BP-XSRF-Token", "_enlighten_4_session" }, names)
    b:close()
  end)
end)

describe("the token cache of a client", function()
  local sim = simulator.for_file(_ENV, { args = { "--sites", "1" } })
  local dir, path

  before_each(function()
    dir = tmpdir()
    path = dir .. "/cache/session.json"
  end)

  after_each(function()
    rmdir(dir)
  end)

  local function new_client(extra)
    local opts = { token_cache = path }
    for k, v in pairs(extra or {}) do
      opts[k] = v
    end
    return H.new(sim, opts)
  end

  -- The session section of the account store, with the file's version and account.
  local function cached()
    local text = slurp(path)
    assert.is_string(text)
    local t = json.decode(text)
    local s = t.session or {}
    s.version, s.account = t.version, t.account
    return s
  end

  it("lets a second client (a new process) send no request at all", function()
    local c = new_client()
    local st = assert(c:status())
    assert.equal("OK", st.status)
    c:close()
    assert.equal(tonumber("600", 8), mode(path))
    assert.equal(tonumber("700", 8), mode(dir .. "/cache"))
    local t = cached()
    assert.equal(2, t.version)
    assert.equal(cache.account_key(sim.base_url, H.EMAIL), t.account)
    assert.same({ st.exp, H.SITE_ID, H.USER_ID }, { t.exp, t.site_id, t.user_id })
    assert.falsy(slurp(path):find(H.EMAIL, 1, true)) -- only a hash of the account
    assert.falsy(slurp(path):find(H.PASSWORD, 1, true))

    local before = #sim:log()
    local c2, probe = new_client()
    local st2 = assert(c2:status())
    local tokens = assert(c2:tokens())
    assert.same({ "OK", st.exp, H.SITE_ID, H.USER_ID }, { st2.status, st2.exp, st2.site_id, st2.user_id })
    assert.equal(t.token, tokens.token)
    assert.equal(t.xsrf, tokens.xsrf)
    assert.same({}, H.since(sim, before))
    assert.equal(0, c2.ctx.session:info().requests)
    c2:close()
    assert.truthy(table.concat(probe.lines, "\n"):find("using the session cached in", 1, true))
    -- and it works with the cached session: one API request, no login
    local c3 = new_client()
    assert(c3:settings())
    assert.same({ "GET /service/batteryConfig/api/v1/batterySettings/" .. H.SITE_ID },
      H.lines(H.since(sim, before)))
    c3:close()
  end)

  it("writes the session only when it changed (the store's other sections: the budget's stamps)",
    function()
    local c = new_client()
    assert(c:status())
    assert(c:settings()) -- the site's control objects are kept too (issue 18)
    c:close()
    local first = json.encode(json.decode(slurp(path)).session)
    os.execute("touch -d '2001-01-01' " .. shell_quote(path))
    local c2 = new_client()
    assert(c2:status())
    assert.truthy(capture("stat -c %Y " .. shell_quote(path)):match("^9")) -- a warm status: no write
    assert(c2:settings())
    c2:close()
    assert.equal(first, json.encode(json.decode(slurp(path)).session))
  end)

  it("refuses a cache file or folder others can write (input, nothing sent)", function()
    local c = new_client()
    assert(c:status())
    c:close()
    os.execute("chmod 666 " .. shell_quote(path))
    local before = #sim:log()
    local c2, err, kind = enphase.new({ email = H.EMAIL, password = H.PASSWORD, base_url = sim.base_url,
      token_cache = path })
    assert.is_nil(c2)
    assert.equal("input", kind)
    assert.truthy(err:find("option token_cache: " .. path, 1, true), err)
    assert.truthy(err:find("chmod 600", 1, true), err)
    os.execute("chmod 600 " .. shell_quote(path) .. "; chmod 777 " .. shell_quote(dir .. "/cache"))
    c2, err, kind = enphase.new({ email = H.EMAIL, password = H.PASSWORD, base_url = sim.base_url,
      token_cache = path })
    assert.is_nil(c2)
    assert.equal("input", kind)
    assert.truthy(err:find("folder " .. dir .. "/cache is writable by group or others", 1, true), err)
    assert.equal(before, #sim:log())
    for _, bad in ipairs({ "", 42, dir .. "/" }) do
      c2, err, kind = enphase.new({ email = H.EMAIL, password = H.PASSWORD, base_url = sim.base_url,
        token_cache = bad })
      assert.is_nil(c2)
      assert.equal("input", kind)
      assert.truthy(err:find("token_cache", 1, true))
    end
  end)

  for _, case in ipairs({
    { "corrupt", function(text) return text:gsub("[{}]", "#") end },
    { "truncated", function(text) return text:sub(1, math.floor(#text / 2)) end },
    { "empty", function() return "" end },
    { "wrongly typed", function(text) return (text:gsub('"exp":%d+', '"exp":"soon"')) end },
    { "tampered", function(text) return (text:gsub('"token":"[^"]*"', '"token":"x.y.z"')) end },
    { "newer-versioned", function(text) return (text:gsub('"version":2', '"version":3')) end },
    { "binary", function() return "\0\1\2\255" end },
  }) do
    it("ignores a " .. case[1] .. " cache: one fresh login, then a good cache", function()
      local c = new_client()
      assert(c:status())
      c:close()
      spit(path, (case[2](slurp(path))))
      local before = #sim:log()
      local c2, probe = new_client()
      local st = assert(c2:status())
      assert.equal("OK", st.status)
      c2:close()
      assert.equal(2, logins(sim))
      assert.truthy(#H.since(sim, before) > 0)
      local log = table.concat(probe.lines, "\n")
      assert.truthy(log:find("token cache " .. path .. " ignored", 1, true), log)
      assert.equal(st.exp, cached().exp)
      -- a good cache again
      before = #sim:log()
      local c3 = new_client()
      assert(c3:status())
      c3:close()
      assert.equal(before, #sim:log())
    end)
  end

  it("ignores another account's cache, and replaces it", function()
    local c = new_client()
    assert(c:status())
    c:close()
    local other = new_client({ email = "user1@example.com", password = "password1" })
    local st = assert(other:status())
    other:close()
    assert.equal(1000001, st.site_id)
    assert.equal(2, logins(sim))
    assert.equal(cache.account_key(sim.base_url, "user1@example.com"), cached().account)
    -- nor is a cache used across servers
    local c3 = new_client({ base_url = sim.base_url:gsub("127%.0%.0%.1", "localhost") })
    assert(c3:status())
    c3:close()
    assert.equal(3, logins(sim))
  end)

  it("logs in once when the cached JWT has expired", function()
    local c = new_client()
    assert(c:status())
    c:close()
    local later = 2 * 86400
    sim:clock(later)
    local c2, probe = new_client({ clock = function() return os.time() + later end })
    assert(c2:status())
    c2:close()
    assert.equal(2, logins(sim))
    assert.truthy(table.concat(probe.lines, "\n"):find("too soon to use", 1, true))
    assert.is_true(cached().exp > os.time() + later)
  end)

  it("logs in again once when the server has forgotten the cached session", function()
    local c = new_client()
    assert(c:status())
    c:close()
    local old = cached().token
    sim:reset() -- forgets every JWT and web session
    local c2 = new_client()
    assert(c2:settings())
    c2:close()
    assert.equal(1, logins(sim))
    assert.are_not.equal(old, cached().token)
  end)

  it("keeps ids given as options over cached ones", function()
    local c = new_client()
    assert(c:status())
    c:close()
    local c2 = new_client({ site_id = 1000001, user_id = 2000001 })
    local info = c2.ctx.session:info()
    assert.same({ 1000001, 2000001 }, { info.site_id, info.user_id })
    c2:close()
  end)

  describe("two clients of one process (issue 8, defect 11)", function()
    -- A blocking call must never wait for a cache lock this process holds:
    -- the holder (an operation) cannot move on while it waits. Each wait
    -- used to last the whole lock timeout (6 x timeout + 5 s), 4 times.
    it("a blocking call does not wait on the lock an operation of the process holds", function()
      local a = new_client({ timeout = 2 })
      local b, probe = new_client({ timeout = 2 })
      finally(function()
        a:close()
        b:close()
        enphase.run() -- nothing of this test goes on into the next
      end)
      local op = a:start("status")
      assert.is_false(op:done()) -- inside its login, holding the lock
      local t0 = store.monotonic()
      local st, err = b:status()
      local elapsed = store.monotonic() - t0
      assert.is_nil(err)
      assert.equal("OK", st.status)
      assert.is_true(elapsed < 5, ("the blocking call took %.1f s"):format(elapsed))
      local log = table.concat(probe.lines, "\n")
      assert.falsy(log:find("timed out", 1, true), log)
      enphase.run()
      assert.equal("OK", assert(op:result()).status)
      -- both sessions were usable; the file holds one of them, whole
      assert.equal(cache.account_key(sim.base_url, H.EMAIL), cached().account)
    end)

    it("two operations on one cache: the second waits for the first and takes its session", function()
      local a = new_client({ timeout = 2 })
      local b = new_client({ timeout = 2 })
      local op1 = a:start("status")
      local op2 = b:start("status")
      enphase.run()
      assert.equal("OK", assert(op1:result()).status)
      assert.equal("OK", assert(op2:result()).status)
      assert.equal(1, logins(sim))
      a:close()
      b:close()
    end)
  end)

  it("shares one login among clients started together (the lock)", function()
    -- two clients of one process, the second created before the first logged in
    local a = new_client()
    local b = new_client()
    assert(a:status())
    local before = #sim:log()
    assert(b:status())
    assert.same({}, H.since(sim, before))
    a:close()
    b:close()
  end)
end)

describe("the enphase command with a token cache", function()
  local sim, dir, env

  -- Runs bin/enphase with `env_` and arguments; returns exit code, stdout, stderr.
  local function run(env_, ...)
    local out, errf = os.tmpname(), os.tmpname()
    local parts = { "env -i PATH=/usr/bin:/bin" }
    for k, v in pairs(env_) do
      parts[#parts + 1] = k .. "=" .. shell_quote(v)
    end
    parts[#parts + 1] = child.enphase
    for _, a in ipairs({ ... }) do
      parts[#parts + 1] = shell_quote(a)
    end
    local _, _, code = os.execute(table.concat(parts, " ") .. " >" .. out .. " 2>" .. errf)
    local o, e = slurp(out), slurp(errf)
    os.remove(out)
    os.remove(errf)
    return code, o, e
  end

  -- The one session-<hash>.json file in `folder` (nil when none).
  local function default_file(folder)
    local found
    for _, name in ipairs(listing(folder)) do
      if name:match("^session%-%x+%.json$") then
        assert.is_nil(found, "two cache files in " .. folder)
        found = name
      end
    end
    return found and (folder .. "/" .. found)
  end

  local function with(extra)
    local t = {}
    for k, v in pairs(env) do
      t[k] = v
    end
    for k, v in pairs(extra or {}) do
      t[k] = v
    end
    return t
  end

  setup(function()
    sim = simulator.start()
  end)

  teardown(function()
    sim:stop()
  end)

  before_each(function()
    sim:reset()
    dir = tmpdir()
    os.execute("mkdir -m 700 " .. shell_quote(dir .. "/home"))
    env = { ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD, ENPHASE_BASE_URL = sim.base_url,
            HOME = dir .. "/home" }
  end)

  after_each(function()
    rmdir(dir)
  end)

  it("sends no request from a second process (default ~/.cache/enphase/session-<hash>.json)",
    function()
    local code, out, err = run(env, "token", "--json")
    assert.equal(0, code, err)
    local first = json.decode(out)
    local path = default_file(dir .. "/home/.cache/enphase")
    assert.equal(tonumber("600", 8), mode(path))
    assert.equal(tonumber("700", 8), mode(dir .. "/home/.cache/enphase"))
    local before = #sim:log()
    for _ = 1, 3 do
      code, out, err = run(env, "token", "--json")
      assert.equal(0, code, err)
      assert.same(first, json.decode(out))
    end
    code, out = run(env, "status", "--json")
    assert.equal(0, code)
    assert.equal("OK", json.decode(out).status)
    assert.equal(before, #sim:log())
    -- one account store (session, lock-out guard, request budget...) and its lock, both private
    local name = path:match("[^/]+$")
    assert.same({ name, name .. ".lock" }, listing(dir .. "/home/.cache/enphase"))
    assert.equal(tonumber("600", 8), mode(path .. ".lock"))
    assert.same({ "account", "budget", "guard", "session", "version" },
      (function(t)
        local keys = {}
        for k in pairs(t) do
          keys[#keys + 1] = k
        end
        table.sort(keys)
        return keys
      end)(json.decode(slurp(path))))
  end)

  it("keeps one default cache per account and server: two accounts never replace each other's",
    function()
      sim:account({ email = "second@example.com", password = "pw2", site_id = 7001, user_id = 8001 })
      local second = with({ ENPHASE_EMAIL = "second@example.com", ENPHASE_PASSWORD = "pw2" })
      local first_out, second_out
      for round = 1, 3 do
        local code, out, err = run(env, "token", "--json")
        assert.equal(0, code, err)
        assert.equal(first_out or out, out)
        first_out = out
        code, out, err = run(second, "token", "--json")
        assert.equal(0, code, err)
        assert.equal(second_out or out, out)
        second_out = out
        -- the first round logs each in; no later round logs anyone in again
        assert.equal(2, logins(sim), "round " .. round)
      end
      assert.equal(7001, json.decode(second_out).battery_id)
      assert.equal(H.SITE_ID, json.decode(first_out).battery_id)
      local files = {}
      for _, name in ipairs(listing(dir .. "/home/.cache/enphase")) do
        if not name:match("%.lock$") and not name:match("%.ledger$") then
          files[#files + 1] = name
          assert.truthy(name:match("^session%-%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%.json$"), name)
        end
      end
      assert.equal(2, #files)
      -- the same account on another server is another file (no login needed to tell)
      local code = run(with({ ENPHASE_BASE_URL = "http://127.0.0.1:1" }), "status")
      assert.equal(1, code)
      -- --token-cache still overrides: both accounts in one file replace each other
      local shared = dir .. "/one.json"
      assert.equal(0, (run(env, "status", "--token-cache", shared)))
      assert.equal(0, (run(second, "status", "--token-cache", shared)))
      assert.equal(0, (run(env, "status", "--token-cache", shared)))
      assert.equal(5, logins(sim))
    end)

  it("keeps the site's capability flags, so a toggle in a new process sends only its own 3 requests",
    function()
      local code, _, err = run(env, "cfg", "on")
      assert.equal(0, code, err)
      local before = #sim:log()
      code, _, err = run(env, "cfg", "off")
      assert.equal(0, code, err)
      local lines = {}
      for i, e in ipairs(sim:log()) do
        if i > before then
          lines[#lines + 1] = e.method .. " " .. e.path:gsub("^/service/batteryConfig/api/v1", "")
        end
      end
      assert.same({ "POST /battery/sites/5652514/schedules/isValid", "PUT /batterySettings/5652514",
                    "GET /batterySettings/5652514" }, lines)
    end)

  it("uses $XDG_CACHE_HOME, ENPHASE_TOKEN_CACHE, --token-cache, and --no-token-cache", function()
    local xdg = with({ XDG_CACHE_HOME = dir .. "/xdg" })
    assert.equal(0, (run(xdg, "status")))
    assert.truthy(default_file(dir .. "/xdg/enphase"))
    local n = logins(sim)
    assert.equal(0, (run(with({ ENPHASE_TOKEN_CACHE = dir .. "/env.json" }), "status")))
    assert.truthy(slurp(dir .. "/env.json"))
    assert.equal(0, (run(env, "status", "--token-cache", dir .. "/opt.json")))
    assert.truthy(slurp(dir .. "/opt.json"))
    assert.equal(n + 2, logins(sim))
    -- each is used again
    assert.equal(0, (run(xdg, "status")))
    assert.equal(0, (run(with({ ENPHASE_TOKEN_CACHE = dir .. "/env.json" }), "status")))
    assert.equal(0, (run(env, "status", "--token-cache=" .. dir .. "/opt.json")))
    assert.equal(n + 2, logins(sim))
    -- --no-token-cache: a login every time, no file anywhere
    assert.equal(0, (run(env, "status", "--no-token-cache")))
    assert.equal(0, (run(env, "status", "--no-token-cache")))
    assert.equal(n + 4, logins(sim))
    assert.is_nil(default_file(dir .. "/home/.cache/enphase"))
    -- from a --config file too
    spit(dir .. "/conf", "ENPHASE_TOKEN_CACHE=" .. dir .. "/conf.json\n")
    os.execute("chmod 600 " .. shell_quote(dir .. "/conf"))
    assert.equal(0, (run(env, "status", "--config", dir .. "/conf")))
    assert.truthy(slurp(dir .. "/conf.json"))
    -- no HOME: no cache, and no complaint
    local code, _, err = run({ ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD,
      ENPHASE_BASE_URL = sim.base_url }, "status")
    assert.equal(0, code)
    assert.equal("", err)
  end)

  it("refuses an unsafe cache given explicitly (exit 2), but only warns for the default", function()
    os.execute("mkdir -m 777 " .. shell_quote(dir .. "/open"))
    local before = #sim:log()
    local code, out, err = run(env, "status", "--token-cache", dir .. "/open/c.json")
    assert.equal(2, code)
    assert.equal("", out)
    assert.truthy(err:find("folder " .. dir .. "/open is writable by group or others", 1, true), err)
    code, out, err = run(with({ ENPHASE_TOKEN_CACHE = dir .. "/open/c.json" }), "status")
    assert.equal(2, code, err)
    assert.equal("", out)
    assert.equal(before, #sim:log())
    -- the default cache folder unusable: a warning, and on without the cache
    os.execute("mkdir -p " .. shell_quote(dir .. "/home/.cache/enphase") .. " && chmod 777 "
      .. shell_quote(dir .. "/home/.cache/enphase"))
    code, out, err = run(env, "status")
    assert.equal(0, code, err)
    assert.truthy(out:find("OK", 1, true))
    assert.truthy(err:find("warning: token cache: folder", 1, true), err)
    assert.same({}, listing(dir .. "/home/.cache/enphase"))
    local path = require("enphase.cli.config").default_token_cache(function(k)
      return env[k]
    end, H.EMAIL, sim.base_url)
    assert.equal(dir .. "/home/.cache/enphase", path:match("^(.*)/session%-%x+%.json$"))
    os.execute("chmod 700 " .. shell_quote(dir .. "/home/.cache/enphase") .. " && touch "
      .. shell_quote(path) .. " && chmod 644 " .. shell_quote(path))
    code, out, err = run(env, "status")
    assert.equal(0, code, err)
    assert.truthy(out:find("OK", 1, true))
    assert.truthy(err:find("chmod 600", 1, true), err)
    -- a HOME that cannot hold a cache folder
    spit(dir .. "/home/.cache/x", "")
    code, out, err = run(with({ XDG_CACHE_HOME = dir .. "/home/.cache/x" }), "status")
    assert.truthy(out:find("OK", 1, true))
    assert.equal(0, code, err)
    assert.truthy(err:find("warning: token cache", 1, true), err)
  end)

  it("survives 8 processes started together, round after round: one login each round", function()
    local path = dir .. "/shared/session.json"
    local parts = { "env -i PATH=/usr/bin:/bin" }
    for k, v in pairs(with({ ENPHASE_TOKEN_CACHE = path })) do
      parts[#parts + 1] = k .. "=" .. shell_quote(v)
    end
    local cmd = table.concat(parts, " ") .. " " .. child.enphase .. " token --json"
    for round = 1, 3 do
      os.remove(path)
      local before = logins(sim)
      local script = {}
      for i = 1, 8 do
        script[#script + 1] = ("( %s >%s/out.%d 2>%s/err.%d; echo $? >%s/rc.%d ) &"):format(cmd,
          shell_quote(dir), i, shell_quote(dir), i, shell_quote(dir), i)
      end
      script[#script + 1] = "wait"
      os.execute(table.concat(script, "\n"))
      local tokens = {}
      for i = 1, 8 do
        assert.equal("0", (slurp(dir .. "/rc." .. i) or ""):gsub("%s+", ""),
          "round " .. round .. ": " .. (slurp(dir .. "/err." .. i) or ""))
        local t = json.decode(slurp(dir .. "/out." .. i))
        assert.equal("OK", t.status)
        tokens[t.token] = true
      end
      assert.equal(1, logins(sim) - before, "round " .. round)
      local text = slurp(path)
      assert.is_string(text)
      local t = json.decode(text)
      assert.truthy(tokens[t.session.token])
      assert.equal(tonumber("600", 8), mode(path))
      assert.same({ "session.json", "session.json.lock" }, listing(dir .. "/shared"))
    end
  end)

  it("keeps the file whole under concurrent writers and readers", function()
    local path = dir .. "/race/c.json"
    assert.is_true(store.make_private_dir(dir .. "/race"))
    local writer = [[
      package.cpath = arg[3] .. ";" .. package.cpath
      local store = require("enphase.store")
      local id, path = tonumber(arg[1]), arg[2]
      for i = 1, 60 do
        local body = ("%d:%d:"):format(id, i) .. ("x"):rep(2000 + 97 * id + i) .. ":end"
        if i % 2 == 0 then
          local lock = assert(store.lock(path, 30))
          assert(store.write_private(path, body))
          lock:unlock()
        else
          assert(store.write_private(path, body))
        end
      end
    ]]
    spit(dir .. "/writer.lua", writer)
    local script = {}
    for i = 1, 8 do
      script[#script + 1] = ("%s %s %d %s %s &"):format(child.lua, shell_quote(dir .. "/writer.lua"), i,
        shell_quote(path), shell_quote(child.cpath))
    end
    local p = assert(io.popen(table.concat(script, "\n") .. "\nwait; echo done"))
    local reads, bad = 0, {}
    local t0 = os.clock()
    while os.clock() - t0 < 0.5 do
      local s = slurp(path)
      if s then
        reads = reads + 1
        local id, i, xs = s:match("^(%d+):(%d+):(x*):end$")
        if not id or #xs ~= 2000 + 97 * tonumber(id) + tonumber(i) then
          bad[#bad + 1] = s:sub(1, 40)
        end
      end
    end
    assert.equal("done\n", p:read("a"))
    p:close()
    assert.same({}, bad)
    assert.truthy(reads > 0)
    assert.truthy(slurp(path):match(":end$"))
    assert.same({ "c.json", "c.json.lock" }, listing(dir .. "/race"))
  end)
end)
