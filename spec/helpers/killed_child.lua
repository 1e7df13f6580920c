-- A timed action killed half-way, for spec/timed_transaction_spec.lua and
-- spec/timed_adoption_spec.lua: a child process runs charge_for(45) with
-- the token cache and sends itself SIGKILL at a named point, and the owned
-- section of the account store it leaves is read back.
--
--   local killed_child = require("helpers.killed_child")
--   killed_child.run(dir, sim.base_url, cache, now, point)  the child killed at `point`
--   killed_child.records(cache)                              this site's owned records
--
-- The points: "before the add" (the intent recorded), "after the add" (the
-- window added), "during the wait" (the wait before the mode's PUT) and
-- "after the toggle" (the mode turned on).
local H = require("helpers.client")
local procs = require("helpers.procs")
local child = require("helpers.child")
local json = require("cjson")
local assert = require("luassert")

local M = {}

-- The child: charge_for(45) with the token cache, killed at `point`.
M.SCRIPT = [[
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = arg[1] .. ";" .. package.cpath
local base_url, cache, now, point = arg[2], arg[3], tonumber(arg[4]), arg[5]
local function die()
  local stat = assert(io.open("/proc/self/stat")):read("*a")
  os.execute("kill -KILL " .. stat:match("^(%d+)"))
  os.exit(3) -- not reached
end
local armed = false
local client = assert(require("enphase").new({
  email = "demo@example.com", password = "demo-password", base_url = base_url,
  token_cache = cache, timeout = 5, timezone = "Europe/London",
  clock = function() return now end,
  sleep = function()
    if point == "during the wait" and armed then
      die()
    end
  end,
  log = function(_, line)
    if (point == "before the add" and line == "timed cfg: intent recorded")
      or (point == "after the add" and line:find("^added CFG schedule"))
      or (point == "after the toggle" and line == "timed cfg: mode turned on") then
      die()
    end
    armed = armed or line == "validate" -- isValid sent: the wait before the PUT is next
  end,
}))
local ok, err = client:charge_for(45)
io.stderr:write("not killed: ", tostring(ok), " ", tostring(err), "\n")
os.exit(4)
]]

--- Writes the child into the folder `dir` and runs it against the simulator
-- at `base_url`, with the token cache `cache` and the virtual time `now`,
-- killed at `point`; asserts that it died by SIGKILL (its stderr otherwise).
function M.run(dir, base_url, cache, now, point)
  procs.spit(dir .. "/child.lua", M.SCRIPT)
  local cmd = ("%s %s %s %s %s %d %s 2>%s"):format(child.lua,
    procs.shell_quote(dir .. "/child.lua"), procs.shell_quote(child.cpath),
    procs.shell_quote(base_url), procs.shell_quote(cache), now,
    procs.shell_quote(point), procs.shell_quote(dir .. "/err"))
  local status, how, code = os.execute(cmd)
  if type(status) == "number" then -- Lua 5.1: the wait status of the shell
    how, code = "exit", math.floor(status / 256)
  end
  local killed = (how == "signal" and code == 9) or (how == "exit" and code == 128 + 9)
  assert.is_true(killed, how .. " " .. code .. ": " .. tostring(procs.slurp(dir .. "/err")))
end

--- The owned section of the account store `cache`, for this site ({} when none).
function M.records(cache)
  local text = procs.slurp(cache)
  local t = text and json.decode(text) or {}
  return t.owned and t.owned.sites[tostring(H.SITE_ID)] or {}
end

return M
