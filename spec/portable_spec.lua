-- One source for Lua 5.1, LuaJIT 2.1, 5.3 and 5.4: every file of the
-- library and the CLI compiles under Lua 5.1 and LuaJIT (no `//`, no
-- bitwise operators, no `goto`, no `<const>`/`<close>`, no 5.3 escapes),
-- and calls none of the functions whose 5.1 answers differ: those go
-- through enphase.util.compat. (.luacheckrc checks lua/ and bin/ against
-- the globals every Lua has: std "min".)
local function lines_of(cmd)
  local p = assert(io.popen(cmd))
  local out = {}
  for line in p:lines() do
    out[#out + 1] = line
  end
  p:close()
  return out
end

local function files()
  local list = lines_of("find lua -name '*.lua' | sort")
  list[#list + 1] = "bin/enphase"
  return list
end

local function have(program)
  return os.execute("command -v " .. program .. " >/dev/null 2>&1") == true
end

local function compile_all(command)
  local failed = {}
  for _, f in ipairs(files()) do
    local out = lines_of(("%s %s 2>&1 >/dev/null"):format(command, f))
    if #out > 0 then
      failed[#failed + 1] = table.concat(out, "\n")
    end
  end
  return failed
end

describe("the library and the CLI", function()
  it("are many files", function()
    assert.is_true(#files() > 50, "found " .. #files())
  end)

  it("compile under Lua 5.1 (luac5.1 -p)", function()
    assert.is_true(have("luac5.1"), "luac5.1 (Debian: lua5.1) is needed")
    assert.same({}, compile_all("luac5.1 -p"))
  end)

  it("compile under LuaJIT 2.1 (luajit -bl)", function()
    assert.is_true(have("luajit"), "luajit is needed")
    assert.same({}, compile_all("luajit -bl"))
  end)

  it("use no call whose Lua 5.1 answer differs, except through enphase.util.compat", function()
    local rules = {
      { "read formats without *", "[:.]read%(%s*[\"'][alLn][\"']", raw = true },
      { "lines formats without *", "[:.]lines%([^)]-[\"'][alLn][\"']", raw = true },
      { "os.execute (5.1 answers a number)", "os%.execute%(" },
      { "xpcall with arguments", "[^%w_.]xpcall%([^,()]+,[^,()]+," },
      { "load with an environment", "[^%w_.:]load%([^)]*,[^)]*,[^)]*," },
      { "string.rep with a separator", "rep%([^,()]+,[^,()]+,[^)]+%)" },
      { "integer division", "[^/\"'%-]//[^/]" },
      -- plain 5.1 cannot yield through Lua's pcall: inside an operation a
      -- client's wait would fail (the simulator runs in its own process)
      { "pcall (compat.pcall: yieldable on plain 5.1)", "[^%w_.]pcall%(", unless = "pcall%(require,",
        skip = "^lua/enphase/sim/" },
    }
    local found = {}
    for _, f in ipairs(files()) do
      if f ~= "lua/enphase/util/compat.lua" then
        local n = 0
        for line in io.lines(f) do
          n = n + 1
          local raw = " " .. line
          -- no string's content, then no comment
          local code = raw:gsub('"[^"]*"', '""'):gsub("'[^']*'", "''"):gsub("%-%-.*$", "")
          for _, rule in ipairs(rules) do
            local text = rule.raw and raw or code
            if text:find(rule[2]) and not (rule.unless and text:find(rule.unless))
              and not (rule.skip and f:find(rule.skip)) then
              found[#found + 1] = ("%s:%d: %s: %s"):format(f, n, rule[1], line)
            end
          end
        end
      end
    end
    assert.same({}, found)
  end)

  it("run under each Lua: the 5.1 build loads in Lua 5.1 and LuaJIT, with the Lua layer", function()
    local probe = "package.path = \"lua/?.lua;lua/?/init.lua;\" .. package.path; "
      .. "package.cpath = \"%s/?.so;\" .. package.cpath; local e = require(\"enphase\"); "
      .. "print(require(\"enphase.core\")._VERSION, e._VERSION == \"lua-enphase 0.1.0\")"
    local cases = { { "lua5.1", "build-5.1" }, { "luajit", "build-luajit" }, { "luajit", "build-5.1" } }
    for _, case in ipairs(cases) do
      local lua, build = case[1], case[2]
      local out = lines_of(("%s -e '%s' 2>&1"):format(lua, probe:format(build)))
      assert.same({ "lua-enphase 0.1.0\ttrue" }, out, lua .. " with " .. build)
    end
  end)
end)
