-- The rockspec installs the C module, the Lua files and the CLI, offline.
describe("the rockspec", function()
  it("installs with `luarocks make --deps-mode=none` into a fresh tree", function()
    local tree = os.tmpname()
    os.remove(tree)
    local log = tree .. ".log"
    local ok = os.execute(("luarocks --lua-version 5.4 --tree %s make --deps-mode=none "
      .. "rockspec/lua-enphase-scm-1.rockspec >%s 2>&1"):format(tree, log))
    local f = io.open(log)
    local output = f and f:read("a") or ""
    if f then
      f:close()
    end
    assert.is_true(ok, output)
    local function run(cmd)
      local p = assert(io.popen(('eval "$(luarocks --lua-version 5.4 --tree %s path)"; %s 2>&1')
        :format(tree, cmd)))
      local out = p:read("a")
      p:close()
      return out
    end
    assert.equal("lua-enphase 0.1.0\n", run(tree .. "/bin/enphase --version"))
    local where = run([[lua5.4 -e 'print(package.searchpath("enphase.core", package.cpath));
      print(package.searchpath("enphase.sim.cli", package.path)); print(require("enphase")._VERSION)']])
    assert.truthy(where:find(tree .. "/lib/lua/5.4/enphase/core.so", 1, true), where)
    assert.truthy(where:find(tree .. "/share/lua/5.4/enphase/sim/cli.lua", 1, true), where)
    assert.truthy(where:find("lua-enphase 0.1.0", 1, true), where)
    os.execute("rm -rf " .. tree .. " " .. log .. " build.luarocks")
  end)
end)
