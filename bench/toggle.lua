-- Benchmark 3: a toggle (validate + PUT), the seed's 1 s delay set to 0.
--
--   seed: its two rest_commands (enphase_validate_cfg, then
--     enphase_battery_charge_from_grid) as two curl calls, tokens from the
--     token sensor, no delay
--   enphase cfg on|off with the token cache, a new process each toggle
--     (the CLI has no option for the delay: LUA_INIT_5_4 sets
--     validate_delay = 0 in enphase.new for this benchmark)
--   client:toggle("cfg", on) in one long-lived process, validate_delay = 0
--
-- Each toggle flips charge-from-grid; the simulator's state is checked
-- after every one, so a toggle that was not applied fails the benchmark.
-- Run: lua5.4 bench/toggle.lua
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local B = require("common")

local M = {}

-- The seed's rest_command bodies and headers, as curl calls.
local SEED_TOGGLE = [[
set -euo pipefail
BASE="$1"; SITE="$2"; USER_ID="$3"; CHARGE="$4"
JWT="$ENPHASE_AUTH"; XSRF="$ENPHASE_XSRF"
hdrs=(-H "content-type: application/json" -H "e-auth-token: ${JWT}" -H "x-xsrf-token: ${XSRF}"
  -H "username: ${USER_ID}" -H "origin: https://battery-profile-ui.enphaseenergy.com"
  -H "referer: https://battery-profile-ui.enphaseenergy.com/" -H "cookie: BP-XSRF-Token=${XSRF}")
# rest_command.enphase_validate_cfg
curl -sS -f -o /dev/null -X POST \
  "${BASE}/service/batteryConfig/api/v1/battery/sites/${SITE}/schedules/isValid" \
  "${hdrs[@]}" --data-raw '{"scheduleType":"cfg","forceScheduleOpted":true}'
# delay: "00:00:01" -> 0 for the benchmark
# rest_command.enphase_battery_charge_from_grid
printf -v now '%(%Y-%m-%dT%H:%M:%S)T.000Z' -1
curl -sS -f -o /dev/null -X PUT \
  "${BASE}/service/batteryConfig/api/v1/batterySettings/${SITE}?userId=${USER_ID}&source=enho" \
  "${hdrs[@]}" --data-raw "{\"chargeFromGrid\": ${CHARGE}, \"acceptedItcDisclaimer\": \"${now}\"}"
]]

-- LUA_INIT_5_4 for the CLI row: validate_delay = 0 (the seed's delay set to
-- 0), nothing else changed.
local function zero_delay_init()
  return "package.path=" .. string.format("%q", B.ROOT .. "/lua/?.lua;" .. B.ROOT .. "/lua/?/init.lua;")
    .. "..package.path; package.cpath=" .. string.format("%q", B.ROOT .. "/build/?.so;")
    .. "..package.cpath; local e=require('enphase'); local new=e.new; "
    .. "e.new=function(o) o.validate_delay=0; return new(o) end"
end

local function cfg_state(sim)
  return sim:state().accounts[1].settings.chargeFromGrid
end

-- A toggle run `repeats` times (after a first one), each flipping cfg;
-- `run(on)` does one toggle and returns {cpu=, wall=} or raises.
local function measure(sim, repeats, run)
  local runs, first = {}, nil
  local on = not cfg_state(sim)
  for i = 0, repeats do
    local before = B.counters(sim)
    local r = run(on)
    local d = B.delta(before, B.counters(sim))
    local now = cfg_state(sim)
    if now ~= on then
      error(("toggle %d to %s not applied (the simulator says %s)"):format(i, tostring(on), tostring(now)))
    end
    r.requests, r.connections = d.requests, d.connections
    r.names = B.request_names(sim, before.seq)
    if i == 0 then
      first = r
    else
      runs[#runs + 1] = r
    end
    on = not on
  end
  return {
    first_requests = first.requests, first_names = first.names, names = runs[#runs].names,
    requests = B.median_of(runs, "requests"), connections = B.median_of(runs, "connections"),
    cpu = B.median_of(runs, "cpu"), wall = B.median_of(runs, "wall"),
  }
end

local function child(cmd, env)
  local r = B.run_child(cmd, env)
  if r.rc ~= 0 then
    error(("%s failed (rc %s): %s %s"):format(cmd, tostring(r.rc), r.out, r.err))
  end
  return r
end

-- 3b: one client's connection over its life, and what happens when the
-- server does not keep it: `case.prepare()` breaks the connection, then one
-- schedules() call must still succeed (retry sleeps are skipped).
local function reconnects(sim)
  local rows = {}
  local client = B.client(sim.base_url, { sleep = function() end })
  assert(client:schedules())
  local cases = {
    { "server keeps the connection alive (100 calls)", function() end, 100 },
    { "server closes the connection instead of answering (fault `close`, once)", function()
      sim:fault({ match = "/schedules", method = "GET", action = "close", count = 1 })
    end, 1 },
    { "server closed every connection while the client was idle (`/__sim/refuse` 0.2 s)", function()
      local ok = pcall(sim.control, sim, "POST", "/__sim/refuse", { seconds = 0.2 })
      if not ok then
        return "the simulator has no /__sim/refuse yet"
      end
      require("enphase.store").sleep(0.5)
    end, 1 },
  }
  for _, case in ipairs(cases) do
    local skipped = case[2]()
    if skipped then
      rows[#rows + 1] = { case[1], "skipped: " .. skipped, "-", "-", "-" }
    else
      local before = B.counters(sim)
      local t0 = B.now()
      local ok, err
      for _ = 1, case[3] do
        ok, err = client:schedules()
        if not ok then
          break
        end
      end
      local wall = B.now() - t0
      local d = B.delta(before, B.counters(sim))
      rows[#rows + 1] = { case[1], ok and "ok" or ("FAILED: " .. tostring(err)), B.num(d.requests),
        B.num(d.connections), B.ms(wall) }
    end
  end
  client:close()
  return rows
end

function M.run()
  local repeats = B.REPEATS
  local sim = B.start_sim()
  local dir = B.tmpdir()
  local cache = B.has_token_cache()
  local results = {}

  -- The token sensor's output (any competitor's: the same JWT/XSRF shape).
  local setup = B.client(sim.base_url)
  local tokens = assert(setup:tokens())
  setup:close()

  B.progress("toggle: seed rest_commands as curl calls (%d toggles)", repeats)
  local script = dir .. "/seed_toggle.sh"
  B.write_file(script, SEED_TOGGLE)
  results.seed = measure(sim, repeats, function(on)
    return child(("bash %s %s %d %d %s"):format(B.shell_quote(script), B.shell_quote(sim.base_url),
      B.SITE, B.USER, tostring(on)), { ENPHASE_AUTH = tokens.token, ENPHASE_XSRF = tokens.xsrf })
  end)

  B.progress("toggle: enphase cfg on|off (%d toggles)", repeats)
  local env = {
    ENPHASE_EMAIL = B.EMAIL, ENPHASE_PASSWORD = B.PASSWORD, ENPHASE_BASE_URL = sim.base_url,
    ENPHASE_TOKEN_CACHE = dir .. "/token-cache", LUA_INIT_5_4 = zero_delay_init(),
  }
  results.cli = measure(sim, repeats, function(on)
    return child(B.cli("cfg " .. (on and "on" or "off")), env)
  end)

  B.progress("toggle: client:toggle (%d toggles)", repeats * 5)
  local client = B.client(sim.base_url, { validate_delay = 0 })
  local before_life = B.counters(sim)
  results.lib = measure(sim, repeats * 5, function(on)
    local c0, t0 = os.clock(), B.now()
    assert(client:toggle("cfg", on))
    return { wall = B.now() - t0, cpu = os.clock() - c0 }
  end)
  local life = B.delta(before_life, B.counters(sim))
  results.lib.life_connections = life.connections
  results.lib.life_requests = life.requests
  client:close()

  B.progress("toggle: connection reuse and reconnects")
  local reconnect_rows = reconnects(sim)

  B.rmdir(dir)
  sim:stop()

  local seed = results.seed
  local rows = B.competitor_rows(results, {
    seed = "seed: 2 rest_commands as curl calls (tokens given)",
    cli = "`enphase cfg on` / `off` + token cache (new process)",
    lib = "`client:toggle(\"cfg\", on)` (long-lived process)",
  }, cache)
  B.print_table("3. Toggle, validate delay 0 (median of " .. repeats .. " toggles after a first one; "
    .. "in-process: " .. (repeats * 5) .. ")",
    { "competitor", "requests (1st)", "requests/toggle", "TCP conns/toggle", "CPU ms/toggle",
      "wall ms/toggle", "CPU vs seed", "wall vs seed" }, rows, {
      "Requests of one toggle: seed: " .. seed.names .. "; CLI: " .. results.cli.names
        .. "; `client:toggle`: " .. results.lib.names .. " (its first: " .. results.lib.first_names .. ").",
      ("`client:toggle`: %d TCP connection(s) for its whole life (%d toggles, %d requests)."):format(
        results.lib.life_connections, repeats * 5 + 1, results.lib.life_requests),
    })
  B.print_table("3b. One client's TCP connection: kept, and re-opened when the server drops it",
    { "case (`client:schedules()` after a warm-up)", "result", "requests", "new TCP conns", "wall ms" },
    reconnect_rows, {
      "Requests include the one the server dropped; the client's retry sleeps are skipped "
        .. "(injected `sleep`).",
    })
  return results
end

if B.is_main("toggle") then
  M.run()
end
return M
