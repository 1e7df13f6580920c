-- Unit specs of the C module enphase.store: what the Lua layer needs without
-- a session (clocks, sleep, file modes; the private files, the lock and
-- SHA-256 are exercised by cache_spec.lua), and the promise that loading it
-- loads no libcurl. Build first: cmake -S . -B build && cmake --build build
local store = require("enphase.store")
local child = require("helpers.child")

-- The shared libraries a fresh Lua (the one under test) has mapped after
-- running `code` (the plain build, as the CLI would load it).
local function libraries_after(code)
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write('package.path = "lua/?.lua;lua/?/init.lua;" .. package.path\n',
    'package.cpath = "' .. child.cpath .. ';" .. package.cpath\n', code, "\n",
    'io.write(assert(io.open("/proc/self/maps")):read("*a"))\n')
  f:close()
  local p = assert(io.popen(child.lua .. " " .. script))
  local maps = p:read("a")
  p:close()
  os.remove(script)
  return maps
end

describe("enphase.store", function()
  describe("clocks, sleep and file modes", function()
    it("gives wall-clock and monotonic seconds", function()
      assert.is_true(math.abs(store.now() - os.time()) < 2)
      local t0 = store.monotonic()
      store.sleep(0.02)
      assert.is_true(store.monotonic() - t0 >= 0.019)
    end)
    it("refuses a negative sleep", function()
      assert.has_error(function() store.sleep(-1) end)
    end)
    it("reads permission bits and the owner", function()
      local path = os.tmpname()
      os.execute("chmod 640 " .. path)
      local mode, uid = store.file_mode(path)
      os.remove(path)
      assert.equal(tonumber("640", 8), mode)
      assert.equal("integer", math.type(uid))
    end)
    it("answers nil and a message for a missing file", function()
      local mode, msg = store.file_mode("/nonexistent/enphase")
      assert.is_nil(mode)
      assert.matches("No such file", msg)
    end)
  end)


  it("owns the session-less functions: enphase.core no longer has them", function()
    local core = require("enphase.core")
    for _, name in ipairs({ "now", "monotonic", "sleep", "file_mode", "write_private",
      "check_private", "make_private_dir", "lock", "sha256", "jwt_exp" }) do
      assert.equal("function", type(store[name]), name)
      assert.is_nil(core[name], name)
    end
  end)

  describe("start-up", function()
    it("loads no libcurl with enphase.store, nor with the token cache", function()
      local readable = io.open("/proc/self/maps")
      if not readable then
        return pending("no /proc/self/maps on this system")
      end
      readable:close()
      local maps = libraries_after('require("enphase.store")')
      assert.matches("store%.so", maps)
      assert.not_matches("libcurl", maps)
      maps = libraries_after('require("enphase.account.cache")')
      assert.not_matches("libcurl", maps)
      assert.not_matches("core%.so", maps)
      -- and the check can fail: enphase.core does load it
      assert.matches("libcurl", libraries_after('require("enphase.core")'))
    end)
  end)
end)
