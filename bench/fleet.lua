-- Benchmark 5: a fleet of N simulated sites (N = 1, 10, 100, 500), each
-- refreshed (client:tokens(), a cold login) and toggled (charge-from-grid
-- on, validate_delay 0) from ONE Lua process: total wall time, CPU, RSS and
-- how each grows with N.
--
--   sequential: the blocking API, one site after the other (the baseline)
--   concurrent: the non-blocking engine (enphase.spawn / enphase.run), when
--     the library has it
--   seed: per site, get_enphase_token.sh then its two toggle rest_commands
--     as curl calls, one site after the other (run for N <= BENCH_SEED_MAX_N,
--     default 100; larger N extrapolated from the largest run)
--
-- The simulator serves user<i>@example.com / password<i> (`--sites 500`).
-- Run: lua5.4 bench/fleet.lua
--
-- `lua5.4 bench/fleet.lua --worker N BASE_URL MODE` is the measured process
-- (it loads only the library) and prints one JSON line.
local bench_dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"

local function worker(n, base_url, mode)
  local root = bench_dir .. "../"
  package.path = root .. "lua/?.lua;" .. root .. "lua/?/init.lua;" .. package.path
  package.cpath = root .. "build/?.so;" .. package.cpath
  local enphase = require("enphase")
  local core = require("enphase.core")
  local function rss()
    local f = assert(io.open("/proc/self/status"))
    local s = f:read("a")
    f:close()
    return tonumber(s:match("VmRSS:%s*(%d+)")), tonumber(s:match("VmHWM:%s*(%d+)"))
  end
  local function fail(i, what, err)
    io.stderr:write(("site %d: %s failed: %s\n"):format(i, what, tostring(err)))
    os.exit(1)
  end
  collectgarbage("collect")
  local rss0 = rss()
  local c0, t0 = os.clock(), core.monotonic()
  local clients = {}
  for i = 1, n do
    clients[i] = assert(enphase.new({
      email = ("user%d@example.com"):format(i), password = ("password%d"):format(i),
      base_url = base_url, validate_delay = 0,
    }))
  end
  local t_refresh, t_toggle
  if mode == "sequential" then
    for i, c in ipairs(clients) do
      local t, err = c:tokens()
      if not (t and t.status == "OK") then
        fail(i, "tokens()", err)
      end
    end
    t_refresh = core.monotonic()
    for i, c in ipairs(clients) do
      local ok, err = c:toggle("cfg", true)
      if not ok then
        fail(i, "toggle", err)
      end
    end
    t_toggle = core.monotonic()
  else
    -- the non-blocking engine: one task per site and phase
    for i, c in ipairs(clients) do
      enphase.spawn(function()
        local t, err = c:tokens()
        if not (t and t.status == "OK") then
          fail(i, "tokens()", err)
        end
      end)
    end
    enphase.run()
    t_refresh = core.monotonic()
    for i, c in ipairs(clients) do
      enphase.spawn(function()
        local ok, err = c:toggle("cfg", true)
        if not ok then
          fail(i, "toggle", err)
        end
      end)
    end
    enphase.run()
    t_toggle = core.monotonic()
  end
  local cpu = os.clock() - c0
  collectgarbage("collect")
  local rss1, hwm = rss()
  for _, c in ipairs(clients) do
    c:close()
  end
  io.write(('{"n":%d,"refresh":%.6f,"toggle":%.6f,"wall":%.6f,"cpu":%.6f,'
    .. '"rss_before":%d,"rss_after":%d,"hwm":%d}\n'):format(n, t_refresh - t0,
    t_toggle - t_refresh, t_toggle - t0, cpu, rss0, rss1, hwm))
end

if arg and arg[1] == "--worker" then
  worker(math.tointeger(tonumber(arg[2])), arg[3], arg[4] or "sequential")
  return
end

package.path = bench_dir .. "?.lua;" .. package.path
local B = require("common")

local M = {}

M.SIZES = { 1, 10, 100, 500 }

-- One site the seed's way: token script (its own WORKDIR and account),
-- then the two rest_commands as curl calls with the tokens it printed
-- (parsed by bash itself: Home Assistant parses the JSON in-process).
local SEED_SITE = [==[
set -euo pipefail
DIR="$1"; BASE="$2"; i="$3"
out="$(bash "$DIR/site$i/get_enphase_token.sh")"
[[ $out =~ \"token\":\"([^\"]*)\" ]] && JWT="${BASH_REMATCH[1]}"
[[ $out =~ \"xsrf\":\"([^\"]*)\" ]] && XSRF="${BASH_REMATCH[1]}"
[[ $out =~ \"user_id\":([0-9]+) ]] && USER_ID="${BASH_REMATCH[1]}"
[[ $out =~ \"battery_id\":([0-9]+) ]] && SITE="${BASH_REMATCH[1]}"
hdrs=(-H "content-type: application/json" -H "e-auth-token: ${JWT}" -H "x-xsrf-token: ${XSRF}"
  -H "username: ${USER_ID}" -H "origin: https://battery-profile-ui.enphaseenergy.com"
  -H "referer: https://battery-profile-ui.enphaseenergy.com/" -H "cookie: BP-XSRF-Token=${XSRF}")
curl -sS -f -o /dev/null -X POST \
  "${BASE}/service/batteryConfig/api/v1/battery/sites/${SITE}/schedules/isValid" \
  "${hdrs[@]}" --data-raw '{"scheduleType":"cfg","forceScheduleOpted":true}'
printf -v now '%(%Y-%m-%dT%H:%M:%S)T.000Z' -1
curl -sS -f -o /dev/null -X PUT \
  "${BASE}/service/batteryConfig/api/v1/batterySettings/${SITE}?userId=${USER_ID}&source=enho" \
  "${hdrs[@]}" --data-raw "{\"chargeFromGrid\": true, \"acceptedItcDisclaimer\": \"${now}\"}"
]==]

local function cfg_on_count(sim, n)
  local on = 0
  for _, a in ipairs(sim:state().accounts) do
    local i = tonumber(a.email:match("^user(%d+)@"))
    if i and i <= n and a.settings.chargeFromGrid then
      on = on + 1
    end
  end
  return on
end

local function run_worker(sim, n, mode)
  sim:reset()
  local before = B.counters(sim)
  local sim_cpu0 = B.process_cpu(sim.pid)
  local out, code = B.sh("lua5.4 " .. B.shell_quote(B.ROOT .. "/bench/fleet.lua") .. " --worker " .. n
    .. " " .. B.shell_quote(sim.base_url) .. " " .. mode .. " 2>&1")
  local r = code == 0 and B.json.decode(out)
  if not r then
    error(("fleet worker N=%d %s failed: %s"):format(n, mode, out))
  end
  r.sim_cpu = B.process_cpu(sim.pid) - sim_cpu0
  local d = B.delta(before, B.counters(sim))
  r.requests, r.connections, r.logins = d.requests, d.connections, d.logins
  r.applied = cfg_on_count(sim, n)
  if r.applied ~= n then
    error(("fleet N=%d %s: %d of %d toggles applied"):format(n, mode, r.applied, n))
  end
  return r
end

local function run_seed(sim, n, dir)
  sim:reset()
  for i = 1, n do
    local site_dir = dir .. "/site" .. i
    os.execute("mkdir -p " .. B.shell_quote(site_dir))
    B.seed_token_script(site_dir, sim.base_url, ("user%d@example.com"):format(i), ("password%d"):format(i))
  end
  B.write_file(dir .. "/seed_site.sh", SEED_SITE)
  local before = B.counters(sim)
  local sim_cpu0 = B.process_cpu(sim.pid)
  local r = B.run_child(("for i in $(seq 1 %d); do bash %s %s %s \"$i\" || exit 1; done"):format(n,
    B.shell_quote(dir .. "/seed_site.sh"), B.shell_quote(dir), B.shell_quote(sim.base_url)))
  if r.rc ~= 0 then
    error(("seed fleet N=%d failed: %s %s"):format(n, r.out, r.err))
  end
  r.sim_cpu = B.process_cpu(sim.pid) - sim_cpu0
  local d = B.delta(before, B.counters(sim))
  r.requests, r.connections = d.requests, d.connections
  r.applied = cfg_on_count(sim, n)
  if r.applied ~= n then
    error(("seed fleet N=%d: %d of %d toggles applied"):format(n, r.applied, n))
  end
  return r
end

function M.run()
  local max_n = M.SIZES[#M.SIZES]
  local seed_max = math.tointeger(tonumber(os.getenv("BENCH_SEED_MAX_N") or "")) or 100
  local sim = B.start_sim({ "--sites", tostring(max_n) })
  local engine = B.has_engine()
  local modes = engine and { "sequential", "concurrent" } or { "sequential" }
  local results = { seed = {} }
  for _, mode in ipairs(modes) do
    results[mode] = {}
    for _, n in ipairs(M.SIZES) do
      B.progress("fleet: %s, N=%d", mode, n)
      results[mode][n] = run_worker(sim, n, mode)
    end
  end
  local dir = B.tmpdir()
  local seed_per_site
  for _, n in ipairs(M.SIZES) do
    if n <= seed_max then
      B.progress("fleet: seed, N=%d", n)
      local r = run_seed(sim, n, dir .. "/n" .. n)
      results.seed[n] = r
      seed_per_site = { wall = r.wall / n, cpu = r.cpu / n, requests = r.requests / n,
                        connections = r.connections / n, sim_cpu = r.sim_cpu / n }
    else
      results.seed[n] = { wall = seed_per_site.wall * n, cpu = seed_per_site.cpu * n,
        requests = seed_per_site.requests * n, connections = seed_per_site.connections * n,
        sim_cpu = seed_per_site.sim_cpu * n, estimated = true }
    end
  end
  B.rmdir(dir)
  sim:stop()

  -- RSS of the first client (N=1), else the growth per extra client over N=1.
  local function per_client(by_n, n)
    local first = by_n[1].rss_after - by_n[1].rss_before
    if n == 1 then
      return first
    end
    return ((by_n[n].rss_after - by_n[n].rss_before) - first) / (n - 1)
  end
  local rows = {}
  local one = results.sequential[1]
  for _, n in ipairs(M.SIZES) do
    local s = results.seed[n]
    local est = s.estimated and "~" or ""
    rows[#rows + 1] = { "seed scripts (one site after the other)" .. (s.estimated and ", extrapolated" or ""),
      n, est .. B.num(s.requests), est .. B.num(s.connections), est .. string.format("%.2f", s.wall),
      est .. B.ms(s.wall / n), est .. string.format("%.2f", s.cpu), est .. B.ms(s.cpu / n),
      est .. string.format("%.2f", s.sim_cpu), "-", "-", "-", "1.00x" }
    for _, mode in ipairs(modes) do
      local r = results[mode][n]
      rows[#rows + 1] = { mode == "sequential" and "library, blocking API (sequential)"
          or "library, non-blocking engine (concurrent)",
        n, B.num(r.requests), B.num(r.connections), string.format("%.3f", r.wall),
        B.ms(r.wall / n), string.format("%.3f", r.cpu), B.ms(r.cpu / n), string.format("%.2f", r.sim_cpu),
        string.format("%.1f", r.hwm / 1024), string.format("%.1f", per_client(results[mode], n)),
        string.format("%.2f", r.wall / (n * one.wall)), B.ratio(s.cpu, r.cpu) }
    end
  end
  local notes = {
    "wall/(N x one site) compares the total wall time with N times the N=1 sequential run "
      .. "(< 1: work overlaps). CPU vs seed: the seed's CPU / the row's CPU.",
    "CPU: the client side only (the seed: every process it ran; the library: os.clock of the one "
      .. "process); sim CPU: the simulator's own, from /proc/<pid>/stat (10 ms ticks).",
    "Every toggle was checked applied in the simulator's state. RSS KiB/client: N=1: VmRSS with the "
      .. "client - VmRSS before it; N>1: growth per extra client over N=1, (delta(N) - delta(1)) / (N - 1).",
  }
  if not engine then
    notes[#notes + 1] = "The non-blocking engine (enphase.spawn/run) is not in the library yet: "
      .. "the concurrent rows are missing."
  end
  local big, small = results.sequential[max_n], results.sequential[10]
  notes[#notes + 1] = ("Growth from N=10 to N=%d (sequential), for x%d sites: wall x%.1f, client CPU x%.1f, "
    .. "sim CPU x%.1f, RSS above the bare process x%.1f."):format(max_n, max_n // 10, big.wall / small.wall,
    big.cpu / small.cpu, big.sim_cpu / math.max(small.sim_cpu, 0.01),
    (big.rss_after - big.rss_before) / (small.rss_after - small.rss_before))
  B.print_table("5. Fleet: N sites refreshed (cold login) and toggled from one process",
    { "competitor", "N", "requests", "TCP conns", "wall s", "wall ms/site", "CPU s", "CPU ms/site",
      "sim CPU s", "peak RSS MiB", "RSS KiB/client", "wall/(N x one site)", "CPU vs seed" }, rows, notes)
  return results
end

if B.is_main("fleet") then
  M.run()
end
return M
