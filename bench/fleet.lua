-- Benchmark 5: a fleet of N simulated sites (N = 1, 10, 100, 500), each
-- refreshed (client:tokens(), a cold login) and toggled (charge-from-grid
-- on, validate_delay 0) from ONE Lua process: total wall time, CPU, RSS and
-- how each grows with N.
--
--   sequential: the blocking API, one site after the other (the baseline)
--   concurrent: the non-blocking engine (client:start, enphase.spawn,
--     enphase.run, op:done, op:result), when the library has it
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
  local store = require("enphase.store")
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
  local c0, t0 = os.clock(), store.monotonic()
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
    t_refresh = store.monotonic()
    for i, c in ipairs(clients) do
      local ok, err = c:toggle("cfg", true)
      if not ok then
        fail(i, "toggle", err)
      end
    end
    t_toggle = store.monotonic()
  else
    -- the non-blocking engine: one operation per site and phase
    -- (client:start for the refresh, enphase.spawn for the toggle)
    local ops = {}
    for i, c in ipairs(clients) do
      ops[i] = c:start("tokens")
    end
    enphase.run()
    for i, op in ipairs(ops) do
      local t, err = op:result()
      if not (op:done() and t and t.status == "OK") then
        fail(i, "tokens()", err)
      end
    end
    t_refresh = store.monotonic()
    for i, c in ipairs(clients) do
      enphase.spawn(function()
        local ok, err = c:toggle("cfg", true)
        if not ok then
          fail(i, "toggle", err)
        end
      end)
    end
    enphase.run()
    t_toggle = store.monotonic()
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

-- Adds `latency_ms` to every answer of the simulator (a delay fault; the
-- simulator's timers keep other connections served meanwhile).
local function add_latency(sim, latency_ms)
  if latency_ms and latency_ms > 0 then
    sim:fault({ match = "", action = "delay", delay = latency_ms / 1000, count = 1000000000 })
  end
end

local function run_worker(sim, n, mode, latency_ms)
  sim:reset()
  add_latency(sim, latency_ms)
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

-- Linear extrapolation of a run measured at a smaller N.
local function extrapolate(r, from_n, n)
  local k = n / from_n
  return { wall = r.wall * k, cpu = r.cpu * k, requests = r.requests * k, sim_cpu = r.sim_cpu * k,
           estimated = true }
end

-- Of several runs, the one with the median wall time (the machine may be
-- shared: one run can be slowed down by others).
local function median_run(runs)
  table.sort(runs, function(a, b)
    return a.wall < b.wall
  end)
  return runs[(#runs + 1) // 2]
end

-- Runs `measure(n)` for every size up to `max_n` (`reps(n)` times, keeping
-- the median run), extrapolates the others.
local function sizes(max_n, label, measure, reps)
  local by_n, last_n = {}, nil
  for _, n in ipairs(M.SIZES) do
    if n <= max_n then
      local k = reps(n)
      B.progress("fleet: %s, N=%d (%d run%s)", label, n, k, k > 1 and "s" or "")
      local runs = {}
      for i = 1, k do
        runs[i] = measure(n)
      end
      by_n[n] = median_run(runs)
      last_n = n
    else
      by_n[n] = extrapolate(by_n[last_n], last_n, n)
    end
  end
  return by_n
end

-- RSS of the first client (N=1), else the growth per extra client over N=1.
local function per_client(by_n, n)
  local first = by_n[1].rss_after - by_n[1].rss_before
  if n == 1 then
    return first
  end
  if by_n[n].estimated then
    return nil
  end
  return ((by_n[n].rss_after - by_n[n].rss_before) - first) / (n - 1)
end

local LABELS = {
  seed = "seed scripts (one site after the other)",
  sequential = "library, blocking API (sequential)",
  concurrent = "library, non-blocking engine (concurrent)",
}

local HEADERS = { "competitor", "N", "requests", "TCP conns", "wall s", "wall ms/site", "CPU s",
  "CPU ms/site", "sim CPU s", "peak RSS MiB", "RSS KiB/client", "wall/(N x one site)", "CPU vs seed" }

local function fmt(v, pattern, est)
  if v == nil then
    return "-"
  end
  return (est and "~" or "") .. string.format(pattern, v)
end

local function rows_of(results, kinds, one_wall)
  local rows = {}
  for _, n in ipairs(M.SIZES) do
    for _, kind in ipairs(kinds) do
      local r = results[kind][n]
      local est = r.estimated
      local seed = results.seed and results.seed[n]
      rows[#rows + 1] = { LABELS[kind] .. (est and ", extrapolated" or ""), n,
        fmt(r.requests, "%.0f", est), fmt(r.connections, "%.0f", est), fmt(r.wall, "%.3f", est),
        fmt(r.wall / n * 1000, "%.2f", est), fmt(r.cpu, "%.3f", est), fmt(r.cpu / n * 1000, "%.2f", est),
        fmt(r.sim_cpu, "%.2f", est), fmt(r.hwm and r.hwm / 1024, "%.1f"),
        fmt(kind ~= "seed" and per_client(results[kind], n) or nil, "%.1f"),
        fmt(kind ~= "seed" and r.wall / (n * one_wall) or nil, "%.2f", est),
        seed and (est and "~" or "") .. B.ratio(seed.cpu, r.cpu) or "-" }
    end
  end
  return rows
end

local COMMON_NOTES = {
  "wall/(N x one site): the total wall time / (N x the N=1 run of the same table's sequential row) "
    .. "(< 1: the sites' work overlaps). CPU vs seed: the seed's CPU / the row's CPU.",
  "CPU: the client side only (the seed: every process it ran, from bash's `times`; the library: "
    .. "os.clock of its one process); sim CPU: the simulator's own, from /proc/<pid>/stat.",
  "Every toggle was checked applied in the simulator's state. RSS KiB/client: N=1: VmRSS with the "
    .. "client - VmRSS before it; N>1: growth per extra client over N=1, (delta(N) - delta(1)) / (N - 1).",
}

function M.run()
  local max_n = M.SIZES[#M.SIZES]
  local seed_max = math.tointeger(tonumber(os.getenv("BENCH_SEED_MAX_N") or "")) or 100
  local latency = tonumber(os.getenv("BENCH_FLEET_LATENCY_MS") or "") or 20
  local slow_seq_max = math.tointeger(tonumber(os.getenv("BENCH_FLEET_SEQ_LATENCY_MAX_N") or "")) or 100
  local sim = B.start_sim({ "--sites", tostring(max_n) })
  local engine = B.has_engine()
  local modes = engine and { "sequential", "concurrent" } or { "sequential" }

  local fast = {}
  for _, mode in ipairs(modes) do
    fast[mode] = sizes(max_n, mode, function(n)
      return run_worker(sim, n, mode, 0)
    end, function(n)
      return n == 1 and 5 or 3
    end)
  end
  local dir = B.tmpdir()
  fast.seed = sizes(seed_max, "seed", function(n)
    return run_seed(sim, n, dir .. "/n" .. n)
  end, function(n)
    return n == 1 and 3 or 1
  end)
  B.rmdir(dir)

  local slow = {}
  if latency > 0 then
    for _, mode in ipairs(modes) do
      slow[mode] = sizes(mode == "sequential" and slow_seq_max or max_n,
        mode .. " +" .. latency .. " ms", function(n)
          return run_worker(sim, n, mode, latency)
        end, function(n)
          return (n == 1 or (mode == "concurrent" and n <= 10)) and 3 or 1
        end)
    end
  end
  sim:stop()

  local kinds = { "seed" }
  for _, m in ipairs(modes) do
    kinds[#kinds + 1] = m
  end
  local notes = {}
  for i, n in ipairs(COMMON_NOTES) do
    notes[i] = n
  end
  if not engine then
    notes[#notes + 1] = "The non-blocking engine (enphase.spawn/run) is not in the library yet: "
      .. "the concurrent rows are missing."
  end
  local big, small = fast.sequential[max_n], fast.sequential[10]
  notes[#notes + 1] = ("Growth from N=10 to N=%d (sequential), for x%d sites: wall x%.1f, client CPU x%.1f, "
    .. "sim CPU x%.1f, RSS above the bare process x%.1f."):format(max_n, max_n // 10, big.wall / small.wall,
    big.cpu / small.cpu, big.sim_cpu / math.max(small.sim_cpu, 0.01),
    (big.rss_after - big.rss_before) / (small.rss_after - small.rss_before))
  notes[#notes + 1] = "Each library row is the median-wall run of 3 (N=1: 5); seed: 1 run (N=1: 3)."
  B.print_table("5. Fleet: N sites refreshed (cold login) and toggled from one process, "
    .. "the simulator's own speed", HEADERS, rows_of(fast, kinds, fast.sequential[1].wall), notes)

  if latency > 0 then
    B.print_table(("5b. Fleet with %g ms added to every answer (a cloud's round trip)"):format(latency),
      HEADERS, rows_of(slow, modes, slow.sequential[1].wall), {
        ("Sequential runs above N=%d are extrapolated from N=%d (they would take minutes). "
          .. "N=1 rows and concurrent N<=10: median-wall run of 3."):format(slow_seq_max, slow_seq_max),
      })
  end
  return { fast = fast, slow = slow }
end

if B.is_main("fleet") then
  M.run()
end
return M
