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

  it("refuses arguments JSON cannot carry, starting nothing", function()
    local c, err = child.start("os", "exit", { 0 / 0 })
    assert.is_nil(c)
    assert.truthy(err:find("cannot start a child", 1, true), err)
  end)
end)
