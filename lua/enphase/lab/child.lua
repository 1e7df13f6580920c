--- A function of a module run in a child process of the same interpreter
-- while this one goes on (`enphase simulate` computes the optimum beside
-- the policy runs, on the other core): its arguments and its answer cross
-- as JSON (numbers exactly: util/json writes as many digits as a number
-- needs), its output is read back when the answer is wanted.
--
--     local c = child.start("enphase.lab.optimum", "beside_files", { spec, path })
--     ... other work ...
--     local answer, err = c:result()   -- waits for the child
local compat = require("enphase.util.compat")
local json = require("enphase.util.json")
local sys = require("enphase.lab.sys")

local M = {}

local Child = {}
Child.__index = Child

-- The line before the answer in the child's output.
local MARK = "--enphase-child-answer--"

--- The interpreter running us ("lua5.4", "luajit"...), for a child.
function M.interpreter()
  local lowest = 0
  while arg and arg[lowest - 1] do
    lowest = lowest - 1
  end
  local first = arg and arg[lowest]
  if lowest < 0 and type(first) == "string"
      and (first:match("lua[%d.]*$") or first:match("luajit[%d.%-]*$")) then
    return first
  end
  -- LuaJIT says "Lua 5.1" too, but a child under lua5.1 would be another Lua
  return rawget(_G, "jit") and "luajit" or "lua" .. _VERSION:match("%d+%.%d+")
end

-- The source checkout our modules come from (ROOT when package.path finds
-- ROOT/lua/enphase/init.lua, as bin/enphase and .busted set it), or nil
-- for an installed copy.
local function checkout()
  local init = compat.searchpath("enphase", package.path)
  if init == "lua/enphase/init.lua" then
    return "."
  end
  return init and init:match("^(.+)/lua/enphase/init%.lua$")
end

--- The Lua code that sets a child's package.path and package.cpath: this
-- process's, with the C modules chosen as bin/enphase chooses them for the
-- child's own Lua: from a checkout, its build for that Lua
-- (enphase.util.checkout) before this process's cpath;
-- installed, this process's cpath alone. A child thus loads the plain build
-- whatever build this process loaded (the specs under scripts/sanitize.sh
-- load build-asan/, whose runtime only the busted process has).
function M.paths_code()
  local root = checkout()
  return ([[
package.path = %q
package.cpath = %q
local checkout = %s
if checkout then
  package.cpath = require("enphase.util.checkout").cpath(checkout) .. ";" .. package.cpath
end
]]):format(package.path, package.cpath, root and ("%q"):format(root) or "nil")
end

--- Starts `require(module)[fn](unpack(args))` in a child process. `args`: a
-- list of values JSON carries. Returns the child (call :result()) or nil
-- and a message.
function M.start(module, fn, args)
  local encoded, err = json.encode(args or {})
  if not encoded then
    return nil, "cannot start a child: " .. tostring(err)
  end
  local code = M.paths_code() .. ([[
local json = require("enphase.util.json")
local compat = require("enphase.util.compat")
local args = assert(json.decode(%q))
local ok, value, message = compat.pcall(function(...)
  return require(%q)[%q](...)
end, compat.unpack(args))
local status = io.open("/proc/self/status")
local peak = status and tonumber(status:read("*a"):match("VmHWM:%%s*(%%d+)"))
if status then status:close() end
local answer = { cpu_seconds = os.clock(), peak_rss_kib = peak }
if not ok then
  answer.error = tostring(value)
elseif value == nil then
  answer.error = tostring(message)
else
  answer.value = value
end
local text, jerr = json.encode(answer)
text = text or json.encode({ error = "cannot encode the answer: " .. tostring(jerr) })
io.write("\n", %q, "\n", text, "\n")
]]):format(encoded, module, fn, MARK)
  local p, perr = io.popen(("exec %s -e %s 2>&1 </dev/null"):format(sys.quote(M.interpreter()),
    sys.quote(code)), "r")
  if not p then
    return nil, "cannot start a child: " .. tostring(perr)
  end
  return setmetatable({ pipe = p, what = module .. "." .. fn }, Child)
end

--- Waits for the child: its answer, or nil and a message (what it said
-- when it failed). The second value, when there is an answer, holds
-- `cpu_seconds` and `peak_rss_kib` of the child.
function Child:result()
  if self.done then
    return self.value, self.err_or_info
  end
  local out = self.pipe:read("*a") or ""
  self.pipe:close()
  self.done = true
  local text = out:match(MARK:gsub("%p", "%%%0") .. "\n(.-)\n?$")
  local answer = text and json.decode(text)
  if type(answer) ~= "table" then
    self.err_or_info = ("%s: the child process failed: %s"):format(self.what,
      (out:gsub("%s+$", "")):sub(-400))
  elseif answer.error then
    self.err_or_info = tostring(answer.error)
  else
    self.value = answer.value
    self.err_or_info = { cpu_seconds = answer.cpu_seconds, peak_rss_kib = answer.peak_rss_kib }
  end
  return self.value, self.err_or_info
end

return M
