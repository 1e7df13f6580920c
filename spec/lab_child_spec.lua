-- lab/child.lua: a module's function run in a child process of the same
-- interpreter (enphase simulate's optimum beside the policy runs): the
-- arguments and the answer cross as JSON, exactly; a failure comes back as
-- a message, never raised.
local child = require("enphase.lab.child")

describe("a function in a child process (lab/child.lua)", function()
  it("answers what the function returned, numbers exactly, with its CPU and memory", function()
    local c = assert(child.start("enphase.util.json", "decode",
      { '{"x":0.1,"y":[1,2,3],"z":"a\\"b","big":123456789012}' }))
    local value, info = c:result()
    assert.same({ x = 0.1, y = { 1, 2, 3 }, z = 'a"b', big = 123456789012 }, value)
    assert.equal(0.1, value.x)
    assert.is_number(info.cpu_seconds)
    -- asked again: the same answer, the child long gone
    assert.same(value, (c:result()))
  end)

  it("gives the function's message when it answers nil and a message", function()
    local c = assert(child.start("enphase.lab.optimum", "beside_files",
      { { files = { load = "/nonexistent/load.csv" } }, "/nonexistent/optimum.csv" }))
    local value, err = c:result()
    assert.is_nil(value)
    assert.truthy(err:find("cannot read /nonexistent/load.csv", 1, true), err)
  end)

  it("gives the error of a function that raises, or of a module that is missing", function()
    local value, err = assert(child.start("enphase.no_such_module", "run", {})):result()
    assert.is_nil(value)
    assert.truthy(err:find("enphase.no_such_module", 1, true), err)
  end)

  it("says the child failed when it ends without an answer", function()
    local value, err = assert(child.start("os", "exit", { 3 })):result()
    assert.is_nil(value)
    assert.truthy(err:find("os.exit: the child process failed", 1, true), err)
  end)

  it("starts the same Lua as this one (LuaJIT, not lua5.1, under LuaJIT)", function()
    local procs = require("helpers.procs")
    local probe = [[io.write(_VERSION, rawget(_G, "jit") and " JIT" or "")]]
    local out = procs.capture(("%s -e %s 2>&1"):format(procs.shell_quote(child.interpreter()),
      procs.shell_quote(probe)))
    assert.equal(_VERSION .. (rawget(_G, "jit") and " JIT" or ""), out)
  end)

  it("refuses arguments JSON cannot carry, starting nothing", function()
    local c, err = child.start("os", "exit", { 0 / 0 })
    assert.is_nil(c)
    assert.truthy(err:find("cannot start a child", 1, true), err)
  end)
end)

-- The child's paths: the C modules bin/enphase would load under the child's
-- Lua (a checkout's build for that Lua), whatever build this process
-- loaded; an installed copy's child gets this process's cpath.
describe("a child's package paths (lab/child.lua)", function()
  local procs = require("helpers.procs")

  -- What a child's Lua prints running `code` after the paths it gets.
  local function in_child(paths_code, code)
    return procs.capture(("%s -e %s 2>&1"):format(procs.shell_quote(child.interpreter()),
      procs.shell_quote(paths_code .. code)))
  end

  it("loads the checkout's build for its own Lua, not another build first on this cpath", function()
    local other = procs.tmpdir("lab-child")
    os.execute("mkdir -p " .. procs.shell_quote(other .. "/enphase"))
    procs.spit(other .. "/enphase/core.so", "")
    local saved = package.cpath
    package.cpath = other .. "/?.so;" .. saved -- as build-asan/ under scripts/sanitize.sh
    local code = child.paths_code()
    package.cpath = saved
    -- the file require("enphase.core") loads: the first on the child's cpath
    local out = in_child(code, [[
local found
for template in package.cpath:gmatch("[^;]+") do
  local f = io.open((template:gsub("%?", "enphase/core")))
  if f then
    f:close()
    found = template:gsub("%?", "enphase/core")
    break
  end
end
io.write(tostring(found), "\t", _VERSION, "\t", tostring(rawget(_G, "jit") ~= nil))
]])
    procs.rmdir(other)
    local found, version, jit = out:match("^(.-)\t(.-)\t(.-)$")
    assert.truthy(found, out)
    local build = (jit == "true" and "build-luajit")
      or ({ ["Lua 5.3"] = "build-5.3", ["Lua 5.1"] = "build-5.1" })[version] or "build"
    assert.equal("./" .. build .. "/enphase/core.so", found)
    assert.equal("loaded", in_child(code, 'io.write(require("enphase.store") and "loaded")'))
  end)

  it("gives an installed copy's child this process's package.path and cpath", function()
    local saved = package.path
    package.path = "/nonexistent/share/lua/?.lua;/nonexistent/share/lua/?/init.lua"
    local code = child.paths_code()
    package.path = saved
    assert.equal("/nonexistent/share/lua/?.lua;/nonexistent/share/lua/?/init.lua\n" .. package.cpath,
      in_child(code, 'io.write(package.path, "\\n", package.cpath)'))
  end)
end)
