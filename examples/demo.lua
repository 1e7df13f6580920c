-- The whole flow, as a script would run it. Settings come from the
-- environment (scripts/demo.sh points them at the local simulator):
--   ENPHASE_EMAIL, ENPHASE_PASSWORD, ENPHASE_BASE_URL
-- Run from the top of a source checkout: lua5.4 examples/demo.lua
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
-- the C module of a checkout: build/ for Lua 5.4, build-5.3/, build-5.1/, build-luajit/ (scripts/setup.sh)
local build = rawget(_G, "jit") and "build-luajit"
  or ({ ["Lua 5.3"] = "build-5.3", ["Lua 5.1"] = "build-5.1" })[_VERSION] or "build"
package.cpath = build .. "/?.so;" .. package.cpath

local enphase = require("enphase")

local function check(ok, ...)
  if not ok then
    local err, kind = ...
    io.stderr:write(("demo: %s (%s)\n"):format(err, kind))
    os.exit(1)
  end
  return ok, ...
end

local client = check(enphase.new({
  email = os.getenv("ENPHASE_EMAIL"),
  password = os.getenv("ENPHASE_PASSWORD"),
  base_url = os.getenv("ENPHASE_BASE_URL"),
  log = function(level, line)
    if level ~= "debug" then
      print(("  [%s] %s"):format(level, line))
    end
  end,
}))

local st = check(client:status())
print(("status %s: site %d, user %d, token valid until %s UTC"):format(st.status, st.site_id,
  st.user_id, os.date("!%Y-%m-%d %H:%M", st.exp)))
print(tostring(client))

print("\ncharge from grid on (validate, wait 1 s, PUT, read back)")
check(client:charge_from_grid(true))
print("settings: charge_from_grid = " .. tostring(check(client:settings()).charge_from_grid))

print("\nadding a CFG schedule 02:00-05:00 on weekdays")
local id, state = check(client:add_schedule({
  type = "CFG", start_time = "02:00", end_time = "05:00", days = { 1, 2, 3, 4, 5 },
}))
print(("schedule %s: %s"):format(id, state))

for _, s in ipairs(check(client:schedules()).cfg) do
  print(("  %s %s-%s days %s limit %d%%"):format(s.id, s.start_time, s.end_time,
    table.concat(s.days, ","), s.limit))
end

print("\nturning charge from grid off, then deleting its schedules (the seed's rule)")
local _, deleted = check(client:disable("cfg", { delete_schedules = true }))
print(("%d schedule(s) deleted"):format(deleted))
client:close()
print("\ndemo finished: OK")
