-- Many sites from one process without blocking: an installer's morning
-- check. Every account logs in and reads its settings at the same time,
-- through the non-blocking engine; the loop below is all the driving needed.
--
--   lua5.4 examples/fleet_status.lua ACCOUNTS_FILE
--
-- ACCOUNTS_FILE holds one "email password" pair a line (mode 0600). Against
-- the simulator: `enphase sim --sites 20 --port 8087`, then lines
-- "user<i>@example.com password<i>", and ENPHASE_BASE_URL=http://127.0.0.1:8087.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
-- the C module of a checkout: build/ for Lua 5.4, build-5.3/, build-5.1/, build-luajit/ (scripts/setup.sh)
local build = rawget(_G, "jit") and "build-luajit"
  or ({ ["Lua 5.3"] = "build-5.3", ["Lua 5.1"] = "build-5.1" })[_VERSION] or "build"
package.cpath = build .. "/?.so;" .. package.cpath

local enphase = require("enphase")
local store = require("enphase.store")

local path = arg[1]
if not path then
  io.stderr:write("usage: lua5.4 examples/fleet_status.lua ACCOUNTS_FILE\n")
  os.exit(2)
end
local mode = store.file_mode(path)
if not mode or mode % 64 ~= 0 then -- any group or world permission (0077)
  io.stderr:write(path .. ": missing, or readable by others (chmod 600)\n")
  os.exit(2)
end

local rows, clients = {}, {}
for line in io.lines(path) do
  local email, password = line:match("^(%S+)%s+(%S+)$")
  if email then
    local client, err, kind = enphase.new({
      email = email, password = password, base_url = os.getenv("ENPHASE_BASE_URL"),
    })
    if not client then
      io.stderr:write(("%s: %s (%s)\n"):format(email, err, kind))
      os.exit(2)
    end
    clients[#clients + 1] = client
    local row = { email = email }
    rows[#rows + 1] = row
    enphase.spawn(function()
      local s, err2, kind2 = client:settings()
      if not s then
        return nil, err2, kind2
      end
      return s, client:status()
    end, function(s, st_or_err, why)
      if s then
        row.text = ("site %d  cfg %-3s dtg %-3s reserve %s%%"):format(st_or_err.site_id,
          s.charge_from_grid and "on" or "off", s.discharge_to_grid and "on" or "off",
          tostring(s.reserve))
      else
        row.text = ("failed: %s (%s)"):format(st_or_err, why)
        row.failed = true
      end
    end)
  end
end

local started = store.monotonic()
while enphase.poll(1) > 0 do end
local failed = 0
for _, row in ipairs(rows) do
  print(("%-28s %s"):format(row.email, row.text))
  failed = failed + (row.failed and 1 or 0)
end
print(("%d sites in %.2f s, %d failed"):format(#rows, store.monotonic() - started, failed))
for _, c in ipairs(clients) do
  c:close()
end
os.exit(failed == 0 and 0 or 1)
