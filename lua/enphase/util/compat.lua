--- What differs between Lua 5.1 (and LuaJIT 2.1), 5.3 and 5.4, in one
-- place. The library, the CLI and the simulator take these instead of the
-- 5.3 functions that 5.1 lacks or that behave otherwise there; nothing
-- here changes a global (a host such as openLuup keeps its own 5.1
-- library). `.luacheckrc` checks lua/ against the functions every Lua has
-- (std "min"), and `spec/portable_spec.lua` compiles every file with
-- `luac5.1`, so 5.3-only syntax or library calls cannot come back.
--
-- Numbers: 5.1 and LuaJIT have no integer subtype, every number is a
-- double. Integers are exact up to 2^53 (9007199254740992): ids (site,
-- user, schedule: below 2^31 in the API) and epoch milliseconds (about
-- 2^40.6 now, 2^53 in the year 287396) stay exact. `isinteger` is then
-- "a number with an integral value", and `tointeger` answers nil beyond
-- 2^53, where a double no longer holds every integer.
-- @module enphase.util.compat

-- luacheck: std max
local M = {}

--- True under Lua 5.1 or LuaJIT (`_VERSION` "Lua 5.1" for both).
M.LUA51 = _VERSION == "Lua 5.1"

--- True under LuaJIT.
M.LUAJIT = rawget(_G, "jit") ~= nil

--- `table.pack`.
M.pack = table.pack or function(...)
  return { n = select("#", ...), ... }
end

--- `table.unpack` (5.1: `unpack`).
M.unpack = table.unpack or unpack

local floor = math.floor
local EXACT = 2 ^ 53
-- The functions of the Lua this runs on, taken once here: the specs'
-- helper (spec/helpers/lua51.lua) builds 5.3's of these from this module
-- under 5.1, and must not have them call themselves.
local math_type = math.type
local os_execute = os.execute
local searchpath = package.searchpath

--- True for an integer: `math.type(x) == "integer"` on 5.3 and 5.4; on
-- 5.1, a number with an integral value within +-2^53.
function M.isinteger(x)
  if math_type then
    return math_type(x) == "integer"
  end
  return type(x) == "number" and x == floor(x) and x >= -EXACT and x <= EXACT
end

--- `math.tointeger`: x as an integer when it is a number (or a numeric
-- string, as 5.3 and 5.4 take) with an integral value, else nil.
M.tointeger = math.tointeger or function(x)
  x = (type(x) == "number" or type(x) == "string") and tonumber(x) or nil
  if not x or x ~= floor(x) or x < -EXACT or x > EXACT then
    return nil
  end
  return x
end

--- `string.unpack(">i4"/">I4"/">i8", data, pos)` for the big-endian
-- integers of a binary file: the value of `size` bytes at `pos`, signed
-- or not, and the position after them (5.1: exact within +-2^53, and at
-- -2^59, TZif's "since ever").
function M.read_be(data, pos, size, signed)
  if string.unpack then
    return string.unpack((">%s%d"):format(signed and "i" or "I", size), data, pos)
  end
  local n = 0
  for i = pos, pos + size - 1 do
    n = n * 256 + (data:byte(i) or error("data string too short", 2))
  end
  if signed and n >= 2 ^ (8 * size - 1) then
    n = n - 2 ^ (8 * size)
  end
  return n, pos + size
end

--- Floor division of integers (`a // b`).
function M.idiv(a, b)
  return floor(a / b)
end

--- `os.execute` with the 5.2 answers on every Lua: true or nil, then
-- "exit" or "signal", then the code (5.1 answers one number, the status
-- of system()); with no command, whether a shell is there.
function M.execute(command)
  local a, how, code = os_execute(command)
  if type(a) ~= "number" then
    return a, how, code
  end
  if command == nil then
    return a ~= 0
  end
  if a % 256 == 0 then
    code = floor(a / 256)
    return code == 0 or nil, "exit", code
  end
  return nil, "signal", a % 128
end

--- `load(text, name, mode, env)` of 5.2 for a string chunk on every Lua:
-- mode "t" refuses a binary chunk; env becomes the chunk's environment.
function M.load(text, name, mode, env)
  if not M.LUA51 then
    return load(text, name, mode, env)
  end
  if mode == "t" and text:byte(1) == 27 then
    return nil, "attempt to load a binary chunk (mode is 't')"
  end
  local chunk, err = loadstring(text, name)
  if chunk and env ~= nil then
    setfenv(chunk, env)
  end
  return chunk, err
end

--- `package.searchpath` (LuaJIT and 5.2+ have it).
M.searchpath = searchpath or function(name, path)
  local file = name:gsub("%.", "/")
  local tried = {}
  for template in path:gmatch("[^;]+") do
    local candidate = template:gsub("%?", file)
    local f = io.open(candidate, "r")
    if f then
      f:close()
      return candidate
    end
    tried[#tried + 1] = "\n\tno file '" .. candidate .. "'"
  end
  return nil, table.concat(tried)
end

--- `coroutine.isyieldable` (5.1: any coroutine but the main one).
M.isyieldable = coroutine.isyieldable or function()
  return coroutine.running() ~= nil
end

--- `xpcall(f, handler, ...)`: 5.1 passes no arguments to f.
function M.xpcall(f, handler, ...)
  if not M.LUA51 or M.LUAJIT then
    return xpcall(f, handler, ...)
  end
  local args = M.pack(...)
  return xpcall(function()
    return f(M.unpack(args, 1, args.n))
  end, handler)
end

-- ------------------------------------------------------------ pcall

-- The coroutine a nested pcall runs in -> the coroutine that called it
-- (plain 5.1 only; weak: a finished one goes).
local parent_of = setmetatable({}, { __mode = "k" })

--- Set by the engine: called with (co, parent) when a yieldable `pcall`
-- runs its function in coroutine co on behalf of parent, and with (co)
-- when it is over.
-- @local
M.on_nest = nil

--- The coroutine that stands for co: co itself, or for a coroutine a
-- yieldable `pcall` runs, the one that called that pcall (outermost).
function M.root(co)
  while parent_of[co] do
    co = parent_of[co]
  end
  return co
end

local function nested_pcall(f, ...)
  local parent = coroutine.running()
  if not parent then
    return pcall(f, ...)
  end
  local co = coroutine.create(f)
  parent_of[co] = parent
  if M.on_nest then
    M.on_nest(co, parent)
  end
  local r = M.pack(coroutine.resume(co, ...))
  while coroutine.status(co) ~= "dead" do
    -- what the function yielded goes to whoever resumes the caller; what
    -- that one resumes with goes back to the function
    r = M.pack(coroutine.resume(co, coroutine.yield(M.unpack(r, 2, r.n))))
  end
  parent_of[co] = nil
  if M.on_nest then
    M.on_nest(co)
  end
  return M.unpack(r, 1, r.n)
end

--- `pcall` through which a coroutine can yield on every Lua: 5.2+ and
-- LuaJIT's own; on plain 5.1 the function runs in a coroutine of its own
-- whose yields are passed on (see `root`).
M.pcall = (M.LUA51 and not M.LUAJIT) and nested_pcall or pcall

-- LuaJIT: the guard against its x64 register swap bug (util/jit_guard.lua),
-- before any of our loops is compiled.
if M.LUAJIT then
  require("enphase.util.jit_guard").install()
end

return M
