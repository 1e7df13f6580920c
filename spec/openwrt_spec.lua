-- The OpenWrt route (README, "OpenWrt"), with Debian standing in for the
-- router: cmake/openwrt.cmake configures and builds the C modules and
-- installs everything into OpenWrt's layout (/usr/lib/lua), with Debian's
-- compiler, Lua 5.1 headers and libcurl in place of the SDK's
-- (OPENWRT_TARGET=/, OPENWRT_TOOLCHAIN=/usr); then Lua 5.1 loads that
-- install alone and talks to the simulator, and the CLI runs as
-- `lua /usr/bin/enphase`. Not a router: the same configuration, built for
-- this machine. Under Lua 5.1 only (the Lua OpenWrt ships).
local child = require("helpers.child")
local simulator = require("helpers.sim")
local procs = require("helpers.procs")
local H = require("helpers.client")

local shell_quote = procs.shell_quote

local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("*a")
  local ok, _, code = p:close()
  return out, ok and 0 or code
end

if child.version ~= "5.1" or child.luajit then
  return
end

describe("the OpenWrt route, Debian's Lua 5.1 standing in", function()
  local sim = simulator.for_file(_ENV)
  local dir, root, env

  setup(function()
    dir = sh("mktemp -d /tmp/enphase-openwrt.XXXXXX"):gsub("%s+$", "")
    root = dir .. "/root"
    local lib = root .. "/usr/lib/lua"
    env = ("LUA_PATH=%s LUA_CPATH=%s"):format(shell_quote(lib .. "/?.lua;" .. lib .. "/?/init.lua;;"),
      shell_quote(lib .. "/?.so;;"))
  end)

  teardown(function()
    os.execute("rm -rf " .. shell_quote(dir))
  end)

  it("configures with cmake/openwrt.cmake, builds and installs into /usr/lib/lua", function()
    local build = dir .. "/build"
    local out, code = sh(("cmake -S . -B %s -DCMAKE_TOOLCHAIN_FILE=cmake/openwrt.cmake "
      .. "-DOPENWRT_TOOLCHAIN=/usr -DOPENWRT_TARGET=/ -DOPENWRT_CROSS= "
      .. "-DLUA_INCLUDE_DIR=/usr/include/lua5.1 -DCOMPAT53_INCLUDE_DIR=/usr/include/lua5.1 "
      .. "-DENPHASE_INSTALL_CLI=ON && cmake --build %s -j 2 && DESTDIR=%s cmake --install %s")
      :format(shell_quote(build), shell_quote(build), shell_quote(root), shell_quote(build)))
    assert.equal(0, code, out)
    assert.truthy(out:find("building for Lua 5.1", 1, true), out)
    for _, f in ipairs({ "usr/lib/lua/enphase/core.so", "usr/lib/lua/enphase/store.so",
      "usr/lib/lua/enphase/init.lua", "usr/lib/lua/enphase/util/compat.lua", "usr/bin/enphase" }) do
      assert.is_true(io.open(root .. "/" .. f) ~= nil, f)
    end

    -- Lua 5.1 loads the install alone (not the checkout) and logs in
    local code_ = ([[
      local enphase = require("enphase")
      local client = assert(enphase.new({ email = %q, password = %q, base_url = %q }))
      local st, err = client:status()
      print(package.loaded["enphase.core"] and "core", st and st.status, st and st.site_id, err)
      client:close()
    ]]):format(H.EMAIL, H.PASSWORD, sim.base_url)
    out, code = sh(("cd /tmp && env %s lua5.1 -e %s"):format(env, shell_quote(code_)))
    assert.equal(0, code, out)
    assert.equal(("core\tOK\t%d\tnil\n"):format(H.SITE_ID), out)

    -- the CLI as OpenWrt runs it: lua /usr/bin/enphase
    local cli = shell_quote(root .. "/usr/bin/enphase")
    out, code = sh(("cd /tmp && env %s lua5.1 %s --version"):format(env, cli))
    assert.equal(0, code, out)
    assert.equal("lua-enphase 0.1.0\n", out)
  end)
end)
