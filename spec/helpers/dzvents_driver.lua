-- One dzVents run, as Domoticz does it, in a lua5.3 process:
--   lua5.3 dzvents_driver.lua INPUT OUTPUT
-- INPUT (luadata) holds the globals Domoticz sets before a run
-- (globalvariables, domoticzData, timeofday, shellcommandresponse,
-- httpresponse, notification) and `runtime`, the dzVents runtime folder; the run's
-- commandArray goes to OUTPUT (luadata). What dzVents prints is the Domoticz
-- log: it goes to stdout.
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local luadata = require("luadata")

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local input = assert(luadata.decode(slurp(arg[1])))
_G.globalvariables = input.globalvariables
_G.domoticzData = input.domoticzData
_G.timeofday = input.timeofday
_G.shellcommandresponse = input.shellcommandresponse
_G.httpresponse = input.httpresponse
_G.notification = input.notification
_G.securityupdates = {}

local commandArray = dofile(input.runtime .. "dzVents.lua")

local f = assert(io.open(arg[2], "wb"))
f:write(luadata.encode(commandArray))
f:close()
