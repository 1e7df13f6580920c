-- A script, ready for cron: make sure exactly one CFG window exists for the
-- cheap night tariff, and charge-from-grid is on. It acts on its own when
-- run with lua; it is not a policy file (`enphase simulate` and `enphase
-- policy` run those: examples/weekday_night_charge_policy.lua is one).
--
--   ENPHASE_EMAIL=... ENPHASE_PASSWORD=... lua5.4 examples/night_charge_script.lua 00:30 04:30
--
-- Try it against the simulator first (ENPHASE_BASE_URL=http://127.0.0.1:PORT
-- after `enphase sim --port PORT`). Exit code 0 when the battery is as wanted.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
-- the C module of a checkout: build/ for Lua 5.4, build-5.3/, build-5.1/, build-luajit/ (scripts/setup.sh)
local build = rawget(_G, "jit") and "build-luajit"
  or ({ ["Lua 5.3"] = "build-5.3", ["Lua 5.1"] = "build-5.1" })[_VERSION] or "build"
package.cpath = build .. "/?.so;" .. package.cpath

local enphase = require("enphase")

local start_time, end_time = arg[1] or "00:30", arg[2] or "04:30"

local client, err, kind = enphase.new({
  email = os.getenv("ENPHASE_EMAIL"),
  password = os.getenv("ENPHASE_PASSWORD"),
  base_url = os.getenv("ENPHASE_BASE_URL"),
  timezone = os.getenv("ENPHASE_TIMEZONE"),
})
if not client then
  io.stderr:write(("night_charge_script: %s (%s)\n"):format(err, kind))
  os.exit(2)
end

local function check(ok, e, k)
  if not ok then
    io.stderr:write(("night_charge_script: %s (%s)\n"):format(e, k))
    os.exit(k == "input" and 2 or 1)
  end
  return ok
end

local wanted = { type = "CFG", start_time = start_time, end_time = end_time,
                 days = { 1, 2, 3, 4, 5, 6, 7 }, limit = 100 }

local present = false
for _, s in ipairs(check(client:schedules()).cfg) do
  if s.start_time == wanted.start_time and s.end_time == wanted.end_time and #s.days == 7 then
    present = true
  else
    print("removing CFG window " .. s.start_time .. "-" .. s.end_time)
    check(client:delete_schedule(s.id))
  end
end
if not present then
  local id = check(client:add_schedule(wanted))
  print(("added CFG window %s-%s (%s)"):format(start_time, end_time, id))
end
if not check(client:settings()).charge_from_grid then
  check(client:charge_from_grid(true))
  print("charge from grid turned on")
end
client:close()
print("night charge policy in place")
