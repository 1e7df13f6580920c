-- The rockspec installs the two C modules, the Lua files and the CLI, offline,
-- for the Lua under test (the suite runs under lua5.3 and lua5.4: both).
local child = require("helpers.child")

describe("the rockspec", function()
  it("installs with `luarocks --lua-version " .. child.version .. " make --deps-mode=none` into a fresh tree",
    function()
      local v = child.version
      local tree = os.tmpname()
      os.remove(tree)
      local log, src = tree .. ".log", tree .. ".src"
      -- from a copy of the checkout: luarocks builds in ./build.luarocks, which
      -- a run under the other Lua may be using at the same time
      local ok = os.execute(("mkdir %s && tar -c --exclude='./build*' --exclude=./.git . | tar -x -C %s "
        .. "&& cd %s && luarocks --lua-version %s --tree %s make --deps-mode=none "
        .. "rockspec/lua-enphase-scm-1.rockspec >%s 2>&1"):format(src, src, src, v, tree, log))
      local f = io.open(log)
      local output = f and f:read("a") or ""
      if f then
        f:close()
      end
      assert.is_true(ok, output)
      local function run(cmd)
        local p = assert(io.popen(('eval "$(luarocks --lua-version %s --tree %s path)"; %s 2>&1')
          :format(v, tree, cmd)))
        local out = p:read("a")
        p:close()
        return out
      end
      -- the installed wrapper runs the CLI under this Lua, finding this tree's module
      assert.equal("lua-enphase 0.1.0\n", run(tree .. "/bin/enphase --version"))
      local wrapper = io.open(tree .. "/bin/enphase"):read("a")
      assert.truthy(wrapper:find("lua" .. v, 1, true), wrapper)
      -- (package.searchpath's work: Lua 5.1 has none)
      local where = run(child.lua .. [[ -e 'local function search(name, path)
          for t in path:gmatch("[^;]+") do
            local c = t:gsub("%?", (name:gsub("%.", "/"))); local f = io.open(c)
            if f then f:close(); return c end
          end
        end
        print(search("enphase.core", package.cpath)); print(search("enphase.store", package.cpath));
        print(search("enphase.sim.cli", package.path)); print(require("enphase")._VERSION)']])
      assert.truthy(where:find(tree .. "/lib/lua/" .. v .. "/enphase/core.so", 1, true), where)
      assert.truthy(where:find(tree .. "/lib/lua/" .. v .. "/enphase/store.so", 1, true), where)
      assert.truthy(where:find(tree .. "/share/lua/" .. v .. "/enphase/sim/cli.lua", 1, true), where)
      assert.truthy(where:find("lua-enphase 0.1.0", 1, true), where)
      os.execute("rm -rf " .. tree .. " " .. log .. " " .. src)
    end)

  -- The README's LuaRocks lines, in the order given, from one checkout (so
  -- one build.luarocks/ for every Lua): each Lua then loads its own build.
  -- Once, under the first Lua of the suite's runs (5.4): it builds for all.
  if child.version == "5.4" then
    it("builds with the README's luarocks lines in the order given, in one checkout", function()
      local readme = io.open("README.md"):read("*a")
      local lines = {}
      for line in readme:gmatch("\n(luarocks %-%-lua%-version [^\n]+)") do
        lines[#lines + 1] = line
      end
      assert.is_true(#lines >= 3, "the README's luarocks lines")
      local tree = os.tmpname()
      os.remove(tree)
      local src = tree .. ".src"
      assert.is_true(os.execute(("mkdir %s && tar -c --exclude='./build*' --exclude=./.git . | tar -x -C %s")
        :format(src, src)))
      for _, line in ipairs(lines) do
        local v = assert(line:match("^luarocks %-%-lua%-version (5%.%d) make "), line)
        local log = tree .. ".log"
        local cmd = line:gsub("^luarocks ", "luarocks --tree " .. tree .. " ")
        local ok = os.execute(("cd %s && %s >%s 2>&1"):format(src, cmd, log))
        local f = io.open(log)
        local output = f and f:read("*a") or ""
        if f then
          f:close()
        end
        assert.is_true(ok, line .. "\n" .. output)
        local probe = "print(require(\"enphase.core\")._VERSION, _VERSION)"
        local p = assert(io.popen(("lua%s -e 'package.cpath = %q; %s' 2>&1")
          :format(v, tree .. "/lib/lua/" .. v .. "/?.so", probe)))
        local out = p:read("*a")
        p:close()
        assert.equal("lua-enphase 0.1.0\tLua " .. v .. "\n", out)
      end
      os.execute("rm -rf " .. tree .. " " .. tree .. ".log " .. src)
    end)
  end
end)
