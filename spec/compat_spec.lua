-- enphase.util.compat: the same answers under Lua 5.4, 5.3, 5.1 and
-- LuaJIT. Under 5.1 the specs' helper (spec/helpers/lua51.lua) builds
-- 5.3's table.pack, math.tointeger, os.execute, load and
-- package.searchpath from this module, so these answers are the specs' too.
local compat = require("enphase.util.compat")

describe("enphase.util.compat", function()
  it("packs and unpacks with the count, holes included", function()
    local t = compat.pack(1, nil, 3)
    assert.equal(3, t.n)
    assert.same({ 1, nil, 3 }, { compat.unpack(t, 1, t.n) })
  end)

  it("tells integers as 5.3 does, within 2^53 on 5.1", function()
    assert.is_true(compat.isinteger(42))
    assert.is_false(compat.isinteger(4.5))
    assert.is_false(compat.isinteger("42"))
    assert.equal(42, compat.tointeger("42"))
    assert.equal(7, compat.tointeger(7))
    assert.is_nil(compat.tointeger(7.5))
    assert.is_nil(compat.tointeger("x"))
    assert.is_nil(compat.tointeger({}))
  end)

  it("answers os.execute as 5.2 does: true or nil, how, code", function()
    assert.same({ true, "exit", 0 }, { compat.execute("true") })
    assert.same({ nil, "exit", 3 }, { compat.execute("exit 3") })
    assert.same({ nil, "signal", 9 }, { compat.execute("kill -9 $$") })
    assert.is_true(compat.execute())
  end)

  it("loads text only when asked, in the environment given", function()
    local f = assert(compat.load("return x", "=chunk", "t", { x = 5 }))
    assert.equal(5, f())
    local binary = string.dump(function() end)
    local g, err = compat.load(binary, "=bin", "t")
    assert.is_nil(g)
    assert.matches("binary", err)
    assert.is_nil((compat.load("return +", "=bad")))
  end)

  it("finds a module on a path, and lists what it tried when it cannot", function()
    assert.equal("lua/enphase/util/compat.lua",
      compat.searchpath("enphase.util.compat", "nowhere/?.lua;lua/?.lua"))
    local found, tried = compat.searchpath("no.such", "a/?.lua;b/?.x")
    assert.is_nil(found)
    -- each Lua words the list a little otherwise (5.4: no first newline)
    assert.matches("no file 'a/no/such%.lua'%s+no file 'b/no/such%.x'", tried)
  end)

  it("is what the specs' helper gives as 5.3's library under 5.1", function()
    if not compat.LUA51 then
      return
    end
    assert.equal(compat.execute, os.execute)
    assert.same({ true, "exit", 0 }, { os.execute("true") })
    assert.equal(compat.tointeger, math.tointeger)
    assert.equal("integer", math.type(3))
    assert.equal("float", math.type(0.5))
    assert.equal(3, table.pack(1, 2, 3).n)
    assert.equal("lua/enphase/util/compat.lua",
      package.searchpath("enphase.util.compat", "lua/?.lua"))
  end)
end)
