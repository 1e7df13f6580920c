-- enphase.precompiled (src/precompiled.c): the library's and the CLI's
-- files as bytecode built with the C modules, served by a searcher only
-- where the file on package.path is byte for byte the one built.
local child = require("helpers.child")
local procs = require("helpers.procs")
local precompiled = require("enphase.precompiled")

-- A function's chunk name tells where it came from: the bytecode was
-- compiled as "@enphase/...", a file on the path as "@<path>".
local function origin(fn)
  return debug.getinfo(fn, "S").source
end

-- Runs `searcher(name)` with package.path set to `path` for the call.
local function search(name, path)
  local saved = package.path
  package.path = path
  local loader, where = precompiled.searcher(name)
  package.path = saved
  return loader, where
end

local CHECKOUT = "lua/?.lua;lua/?/init.lua"

describe("enphase.precompiled", function()
  local dir
  before_each(function()
    dir = procs.tmpdir("precompiled")
    os.execute("mkdir -p " .. dir .. "/enphase/util")
  end)
  after_each(function()
    procs.rmdir(dir)
  end)

  it("serves a module from its bytecode when the file on the path is the one built", function()
    local loader, where = search("enphase.util.json", CHECKOUT)
    assert.is_function(loader)
    assert.equal("lua/enphase/util/json.lua", where)
    local json = loader("enphase.util.json", where)
    assert.equal("@enphase/util/json.lua", origin(json.decode))
    assert.same({ a = "b" }, json.decode('{"a":"b"}'))
    -- init.lua files go by their folder's name, as with require
    local _, cli_where = search("enphase.cli", CHECKOUT)
    assert.equal("lua/enphase/cli/init.lua", cli_where)
  end)

  it("leaves an edited, shortened or longer copy first on the path to the Lua searcher", function()
    local text = assert(procs.slurp("lua/enphase/util/json.lua"))
    local copy = dir .. "/enphase/util/json.lua"
    local path = dir .. "/?.lua;" .. CHECKOUT
    local edits = {
      same_length = text:gsub("decode", "DECODE", 1),
      shorter = text:sub(1, -2),
      longer = text .. "\n",
      empty = "",
    }
    for what, edited in pairs(edits) do
      assert.are_not.equal(text, edited, what)
      procs.spit(copy, edited)
      assert.is_nil(search("enphase.util.json", path), what)
    end
    -- the same bytes in another folder are the same file
    procs.spit(copy, text)
    local loader, where = search("enphase.util.json", path)
    assert.is_function(loader)
    assert.equal(copy, where)
  end)

  it("takes the first file that opens, as the Lua searcher does, and nothing when none does", function()
    local path = dir .. "/nowhere/?.lua;;" .. CHECKOUT
    assert.is_function((search("enphase.util.json", path)))
    assert.is_nil(search("enphase.util.json", dir .. "/?.lua;" .. dir .. "/?/init.lua"))
    assert.is_nil(search("enphase.util.json", ""))
  end)

  it("holds the library and the CLI, not the simulator, the lab nor the MQTT bridge", function()
    local held = {}
    for _, name in ipairs(precompiled.modules()) do
      held[name] = true
    end
    local expected = 0
    local p = assert(io.popen("cd lua && find enphase -name '*.lua' | sort"))
    for file in p:lines() do
      local name = file:gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
      local long_running = file:match("^enphase/sim/") or file:match("^enphase/lab/")
        or file:match("^enphase/mqtt/")
      if long_running then
        assert.is_nil(held[name], name)
      else
        expected = expected + 1
        assert.is_true(held[name], name)
      end
    end
    p:close()
    assert.equal(expected, #precompiled.modules())
    assert.is_nil(search("enphase.sim.app", CHECKOUT))
    assert.is_nil(search("cjson", CHECKOUT))
  end)

  it("is installed once, right after the preload searcher", function()
    local script = dir .. "/install.lua"
    procs.spit(script, ([[
package.path = %q
package.cpath = %q .. package.cpath
local searchers = package.searchers or package.loaders
local before = #searchers
local p = require("enphase.precompiled")
assert(p.install() == true and p.install() == true)
assert(#searchers == before + 1 and searchers[2] == p.searcher)
local json = require("enphase.util.json")
io.write(debug.getinfo(json.decode, "S").source)
]]):format(CHECKOUT, child.cpath .. ";"))
    local out = procs.capture(child.lua .. " " .. script .. " 2>&1")
    assert.equal("@enphase/util/json.lua", out)
  end)

  it("serves the CLI's files when bin/enphase runs", function()
    local probe = dir .. "/probe.lua"
    procs.spit(probe, [[
local exit = os.exit
os.exit = function(...)
  local cli = package.loaded["enphase.cli"]
  io.stderr:write("ORIGIN ", debug.getinfo(cli.main, "S").source, "\n")
  exit(...)
end
]])
    local out = procs.capture("LUA_INIT=@" .. probe .. " " .. child.enphase .. " --version 2>&1")
    assert.matches("ORIGIN @enphase/cli/init.lua", out, 1, true)
  end)

  it("compiles every file from source in a Lua that refuses the bytecode", function()
    -- LuaJIT loads the module built for PUC Lua 5.1 (one ABI, one folder
    -- in Debian), but not its bytecode (scripts/setup.sh installs luajit)
    local script = dir .. "/refused.lua"
    procs.spit(script, ([[
package.path = %q
package.cpath = "build-5.1/?.so;" .. package.cpath
local p = require("enphase.precompiled")
p.install()
local json = require("enphase.util.json")
local client = require("enphase.client")
io.write(debug.getinfo(json.decode, "S").source, " ", debug.getinfo(client.new, "S").source,
  " ", json.decode('{"n":1}').n)
]]):format(CHECKOUT))
    local out = procs.capture("luajit " .. script .. " 2>&1")
    assert.equal("@lua/enphase/util/json.lua @lua/enphase/client.lua 1", out)
  end)
end)
