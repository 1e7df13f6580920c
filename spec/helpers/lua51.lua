-- For the specs only (.busted's helper, under Lua 5.1 and LuaJIT; nothing
-- under 5.3 and 5.4): the spec files and their helpers are written for
-- Lua 5.3, so this gives the busted process the 5.3 library they use.
--
-- It never hides a 5.1 problem of the library itself: lua/ and bin/ are
-- checked against the functions every Lua has (luacheck std "min"),
-- compiled with luac5.1, and kept from the calls whose 5.1 answers differ
-- (read formats, os.execute's status, load with an environment) by
-- spec/portable_spec.lua; they use enphase.util.compat for those. And
-- every process a spec starts (bin/enphase, the simulator, the host
-- runtimes) runs on the unpatched interpreter.
-- luacheck: std max
if _VERSION ~= "Lua 5.1" then
  return
end

-- What the library needs as well comes from its own enphase.util.compat
-- (one copy of each shim); only what the specs use beyond it is here.
local compat = require("enphase.util.compat")

table.pack = table.pack or compat.pack -- luacheck: ignore 122
table.unpack = table.unpack or compat.unpack -- luacheck: ignore 122 143

math.tointeger = math.tointeger or compat.tointeger -- luacheck: ignore 122
math.type = math.type or function(x) -- luacheck: ignore 122
  if type(x) ~= "number" then
    return nil
  end
  return compat.isinteger(x) and "integer" or "float"
end
math.maxinteger = math.maxinteger or 2 ^ 53 -- luacheck: ignore 122 143
math.mininteger = math.mininteger or -2 ^ 53 -- luacheck: ignore 122 143

os.execute = compat.execute -- luacheck: ignore 122

local rep = string.rep
string.rep = function(s, n, sep) -- luacheck: ignore 122
  if sep == nil or sep == "" or n <= 1 then
    return rep(s, n)
  end
  return rep(s .. sep, n - 1) .. s
end

if not rawget(_G, "jit") then
  -- a function chunk as 5.1 loads it (no mode, no environment here)
  local load51 = load
  load = function(chunk, name, mode, env) -- luacheck: ignore 121
    if type(chunk) ~= "string" then
      return load51(chunk, name)
    end
    return compat.load(chunk, name, mode, env)
  end

  -- 5.3's read formats without the "*" ("a", "l", "L", "n")
  local formats = { a = "*a", l = "*l", n = "*n", L = "*L" }
  local function fix(...)
    local n = select("#", ...)
    local args = { ... }
    local keep_newline = false
    for i = 1, n do
      if type(args[i]) == "string" then
        local f = args[i]:gsub("^%*", "")
        if f:sub(1, 1) == "L" then
          keep_newline = true
        end
        args[i] = formats[f:sub(1, 1)] or args[i]
        if args[i] == "*L" then
          args[i] = "*l"
        end
      end
    end
    return keep_newline, n, args
  end
  local file_mt = getmetatable(io.stdout)
  local methods = file_mt.__index
  local read, lines = methods.read, methods.lines
  methods.read = function(self, ...)
    local keep, n, args = fix(...)
    if keep then -- one "L" read: the line with its newline (the last one may lack it)
      local line = read(self, "*l")
      return line and line .. "\n"
    end
    return read(self, unpack(args, 1, n))
  end
  methods.lines = function(self, ...)
    local _, n, args = fix(...)
    return lines(self, unpack(args, 1, n))
  end
  local io_read, io_lines = io.read, io.lines
  io.read = function(...) -- luacheck: ignore 122
    local _, n, args = fix(...)
    return io_read(unpack(args, 1, n))
  end
  io.lines = function(name, ...) -- luacheck: ignore 122
    local _, n, args = fix(...)
    return io_lines(name, unpack(args, 1, n))
  end
end

-- io.popen's close: 5.1 answers true whatever the command did; 5.3
-- answers as os.execute. The command's status is kept in a file.
local popen = io.popen
io.popen = function(command, mode) -- luacheck: ignore 122
  local status_file = os.tmpname()
  local f, err = popen(("(%s); echo $? >%s"):format(command, status_file), mode)
  if not f then
    os.remove(status_file)
    return f, err
  end
  local proxy = setmetatable({}, {
    __index = function(_, key)
      local m = f[key]
      if type(m) ~= "function" then
        return m
      end
      if key == "close" then
        return function()
          f:close()
          local sf = io.open(status_file)
          local code = sf and tonumber(sf:read("*l") or "")
          if sf then
            sf:close()
          end
          os.remove(status_file)
          if code == nil then
            return true
          end
          return code == 0 or nil, "exit", code
        end
      end
      return function(_, ...)
        return m(f, ...)
      end
    end,
  })
  return proxy
end

package.searchpath = package.searchpath or compat.searchpath -- luacheck: ignore 122
