-- The Debian package built by scripts/deb.sh (scripts/test.sh builds it once,
-- before the suite: the build takes too long for a spec run under each Lua):
-- unpacked into a scratch root with `dpkg -x`, its module is loaded by both
-- Luas from there and talks to the simulator, and its CLI runs.
local child = require("helpers.child")
local simulator = require("helpers.sim")
local H = require("helpers.client")

local shell_quote = simulator.shell_quote

local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok, _, code = p:close()
  return out, ok and 0 or code
end

local function find_deb()
  -- sh() merges stderr, so "ls: cannot access ..." must not count as a file
  local out = sh("ls build-deb/lua-enphase_*.deb")
  for line in out:gmatch("[^\n]+") do
    if line:match("^build%-deb/lua%-enphase_[^/]*%.deb$") then
      return line
    end
  end
  return nil
end

-- The package was built from this checkout's sources (scripts/deb.sh wrote
-- their digest beside it).
local function built_from_here()
  local f = io.open("build-deb/sources.sha256")
  local built = f and f:read("l")
  if f then
    f:close()
  end
  return built ~= nil and built == sh("bash scripts/deb.sh --digest"):match("^(%x+)\n$")
end

describe("the Debian package", function()
  local deb = find_deb()
  if not deb then
    pending("no build-deb/lua-enphase_*.deb: build it with `bash scripts/deb.sh`")
    return
  elseif not built_from_here() then
    pending("build-deb/ holds a package of other sources: rebuild it with `bash scripts/deb.sh`")
    return
  end
  local sim = simulator.for_file(_ENV)
  local root, multiarch

  setup(function()
    root = sh("mktemp -d /tmp/enphase-deb.XXXXXX"):gsub("%s+$", "")
    local out, code = sh("dpkg -x " .. shell_quote(deb) .. " " .. shell_quote(root))
    assert(code == 0, out)
    multiarch = sh("dpkg-architecture -qDEB_HOST_MULTIARCH"):gsub("%s+$", "")
  end)

  teardown(function()
    os.execute("rm -rf " .. shell_quote(root))
  end)

  -- LUA_PATH_5_x / LUA_CPATH_5_x (5.1 and LuaJIT: LUA_PATH / LUA_CPATH):
  -- the package's files first, then the system's (lua-cjson), never the
  -- checkout's
  local function env_for(v)
    local share, lib = root .. "/usr/share/lua/" .. v, root .. "/usr/lib/" .. multiarch .. "/lua/" .. v
    local suffix = v == "5.1" and "" or "_" .. v:gsub("%.", "_")
    return ("LUA_PATH%s=%s LUA_CPATH%s=%s"):format(
      suffix, shell_quote(share .. "/?.lua;" .. share .. "/?/init.lua;;"),
      suffix, shell_quote(lib .. "/?.so;;"))
  end

  -- each Lua and the files it loads (LuaJIT: the 5.1 ones)
  local LUAS = { { "lua5.1", "5.1" }, { "luajit", "5.1" }, { "lua5.3", "5.3" }, { "lua5.4", "5.4" } }

  for _, case in ipairs(LUAS) do
    local lua, v = case[1], case[2]
    it("loads the module under " .. lua .. " from its own files and talks to the simulator", function()
      local code = ([[
        local function search(name, path) -- package.searchpath's work (5.1 has none)
          for t in path:gmatch("[^;]+") do
            local c = t:gsub("%%?", (name:gsub("%%.", "/")))
            local f = io.open(c)
            if f then f:close(); return c end
          end
        end
        local enphase = require("enphase")
        print(search("enphase", package.path))
        print(search("enphase.core", package.cpath))
        print(search("enphase.store", package.cpath))
        local client = assert(enphase.new({ email = %q, password = %q, base_url = %q }))
        local st, err, kind = client:status()
        print(_VERSION, enphase._VERSION, st and st.status, st and st.site_id, err, kind)
        client:close()
      ]]):format(H.EMAIL, H.PASSWORD, sim.base_url)
      local out, rc = sh(("cd /tmp && env %s %s -e %s"):format(env_for(v), lua, shell_quote(code)))
      assert.equal(0, rc, out)
      local lines = {}
      for line in out:gmatch("[^\n]+") do
        lines[#lines + 1] = line
      end
      assert.equal(root .. "/usr/share/lua/" .. v .. "/enphase/init.lua", lines[1])
      assert.equal(root .. "/usr/lib/" .. multiarch .. "/lua/" .. v .. "/enphase/core.so", lines[2])
      assert.equal(root .. "/usr/lib/" .. multiarch .. "/lua/" .. v .. "/enphase/store.so", lines[3])
      assert.equal(("Lua %s\tlua-enphase 0.1.0\tOK\t%d\tnil\tnil"):format(v, H.SITE_ID), lines[4])
    end)
  end

  it("installs a CLI that runs under any of the Luas and prints the checkout's --help", function()
    local cli = root .. "/usr/bin/enphase"
    local f = assert(io.open(cli))
    local head = f:read("*l") .. "\n" .. f:read("*l")
    f:close()
    -- Debian's way for a script that runs under several Luas (lua-any(1))
    assert.equal("#!/usr/bin/env lua-any\n-- Lua-Versions: 5.4 5.3 5.1", head)
    local expected = sh(child.enphase .. " --help")
    for _, case in ipairs(LUAS) do
      local lua, v = case[1], case[2]
      local out, rc = sh(("cd /tmp && env %s %s %s --help"):format(env_for(v), lua, shell_quote(cli)))
      assert.equal(0, rc, out)
      assert.equal(expected, out)
    end
    if os.execute("command -v lua-any >/dev/null") then -- as installed: through its shebang
      local out, rc = sh(("cd /tmp && env %s %s %s --version"):format(env_for("5.4"), env_for("5.3"),
        shell_quote(cli)))
      assert.equal(0, rc, out)
      assert.equal("lua-enphase 0.1.0\n", out)
    end
  end)

  it("holds the man page, the documentation and the API reference", function()
    local out, rc = sh("cd " .. shell_quote(root) .. " && find usr/share/man usr/share/doc -type f | sort")
    assert.equal(0, rc, out)
    assert.truthy(out:find("usr/share/man/man1/enphase.1.gz", 1, true), out)
    assert.truthy(out:find("usr/share/doc/lua-enphase/copyright", 1, true), out)
    assert.truthy(out:find("usr/share/doc/lua-enphase/README.md.gz", 1, true), out)
    assert.truthy(out:find("usr/share/doc/lua-enphase/api/index.html", 1, true), out)
    assert.truthy(out:find("usr/share/doc/lua-enphase/api/modules/enphase.client.html", 1, true), out)
  end)
end)
