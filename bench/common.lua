-- Shared helpers of the benchmarks: paths, the simulator, the seed's
-- scripts, child-process measurement, medians and markdown tables.
--
--   local B = require("common")      (bench/ is on package.path, see below)
--   local sim = B.start_sim{ "--sites", "10" }
--   local r = B.run_child("bash x.sh", { ENV = "v" })  -- wall, user, sys, cpu, rc, out
--   B.print_table(title, headers, rows)
local M = {}

local function dirname(p)
  return p:match("^(.*)/[^/]*$") or "."
end

-- The checkout: this file is bench/common.lua.
local here = debug.getinfo(1, "S").source:match("^@(.*)$") or "bench/common.lua"
M.ROOT = dirname(dirname(here))
if M.ROOT == "" or M.ROOT == "." then
  M.ROOT = os.getenv("PWD") or "."
end

package.path = table.concat({
  M.ROOT .. "/lua/?.lua", M.ROOT .. "/lua/?/init.lua", M.ROOT .. "/spec/?.lua",
  M.ROOT .. "/bench/?.lua", package.path,
}, ";")
-- the C module of a checkout: build/ for Lua 5.4, build-5.3/ for 5.3
package.cpath = M.ROOT .. (_VERSION == "Lua 5.3" and "/build-5.3" or "/build") .. "/?.so;" .. package.cpath

local core = require("enphase.core")
local simulator = require("helpers.sim")
local json = require("enphase.sim.json")

M.core = core
M.json = json
M.simulator = simulator
M.shell_quote = simulator.shell_quote
M.now = require("enphase.store").monotonic

M.SEED = os.getenv("ENPHASE_SEED") or (M.ROOT .. "/../shared/seed/000_5a29bb429159451f.txt")
M.EMAIL, M.PASSWORD = "demo@example.com", "demo-password"
M.SITE, M.USER = 5652514, 4980363
M.BC = "/service/batteryConfig/api/v1"

--- Repeats of the timed loops (BENCH_REPEATS overrides, e.g. 5 for a quick look).
M.REPEATS = math.tointeger(tonumber(os.getenv("BENCH_REPEATS") or "")) or 30

function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local s = f:read("a")
  f:close()
  return s
end

function M.write_file(path, text, mode)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  if mode then
    os.execute("chmod " .. mode .. " " .. M.shell_quote(path))
  end
end

--- Runs a shell command, returns its stdout and exit code.
function M.sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  local ok, _, code = p:close()
  return out, ok and 0 or code
end

function M.tmpdir()
  local d = M.sh("mktemp -d /tmp/enphase-bench.XXXXXX"):gsub("%s+$", "")
  assert(d ~= "", "mktemp failed")
  return d
end

function M.rmdir(d)
  if d and d:match("^/tmp/enphase%-bench%.") then
    os.execute("rm -rf " .. M.shell_quote(d))
  end
end

-- ------------------------------------------------------------ simulator

--- Starts a simulator (spec/helpers/sim.lua: random port, --watch-pid of
-- this process, stopped with sim:stop()).
function M.start_sim(args)
  return simulator.start({ args = args or {} })
end

--- The sim's counters: requests (non-control requests served), connections
-- (TCP connections that carried one), logins, log_seq.
function M.counters(sim)
  local st = sim:state()
  return { requests = st.requests, connections = st.connections, logins = st.logins,
           seq = st.log_seq, accepted = st.accepted }
end

function M.delta(a, b)
  return { requests = b.requests - a.requests, connections = b.connections - a.connections,
           logins = b.logins - a.logins }
end

local CLK_TCK = tonumber((io.popen("getconf CLK_TCK"):read("l"))) or 100

--- CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat.
function M.process_cpu(pid)
  local stat = M.read_file("/proc/" .. pid .. "/stat")
  if not stat then
    return nil
  end
  local rest = stat:match("^%d+ %b() (.*)$")
  local fields = {}
  for f in rest:gmatch("%S+") do
    fields[#fields + 1] = f
  end
  -- fields 14 and 15 of stat (utime, stime) are 12 and 13 after pid and comm
  return (tonumber(fields[12]) + tonumber(fields[13])) / CLK_TCK
end

--- "METHOD /short/path" of the log entries after `seq`, joined with ", ".
function M.request_names(sim, seq)
  local names = {}
  for _, e in ipairs(sim:log(seq)) do
    local p = e.path:gsub("^/service/batteryConfig/api/v1", "BC")
      :gsub("/%d%d%d%d%d+", "/<id>"):gsub("/%x+%-%x+%-%x+%-%x+%-%x+", "/<sid>")
    names[#names + 1] = e.method .. " " .. p
  end
  return table.concat(names, ", ")
end

-- ------------------------------------------------------------ the seed's scripts

--- The rows of the three competitors (`seed`, `cli`, `lib` in `results`)
-- with the usual columns: requests of the first run and per cycle, TCP
-- connections, CPU and wall medians, and the ratios to the seed.
function M.competitor_rows(results, labels, cache)
  local seed = results.seed
  local rows = {}
  for _, k in ipairs({ "seed", "cli", "lib" }) do
    local r = results[k]
    rows[#rows + 1] = {
      labels[k] .. ((k == "cli" and not cache) and " [cache not landed]" or ""),
      M.num(r.first_requests), M.num(r.requests), M.num(r.connections),
      M.ms(r.cpu), M.ms(r.wall), M.ratio(seed.cpu, r.cpu), M.ratio(seed.wall, r.wall),
    }
  end
  return rows
end

-- A script of the seed guide (spec/helpers/seed.lua cuts it out).
local function extract(from, to_prefix)
  return assert(require("helpers.seed").extract(from, to_prefix, M.SEED))
end

--- Writes the seed's get_enphase_token.sh into `dir`, pointed at the sim,
-- with its WORKDIR in `dir`. Returns its path.
function M.seed_token_script(dir, base_url, email, password)
  local script = extract("set -euo pipefail", 'echo "{\\"status\\":')
  script = script:gsub("https://enlighten%.enphaseenergy%.com", base_url)
    :gsub('\nEMAIL="[^\n]*', '\nEMAIL="' .. (email or M.EMAIL) .. '"', 1)
    :gsub('\nPASSWORD="[^\n]*', '\nPASSWORD="' .. (password or M.PASSWORD) .. '"', 1)
    :gsub('\nWORKDIR="[^\n]*', '\nWORKDIR="' .. dir .. '"', 1)
  local path = dir .. "/get_enphase_token.sh"
  M.write_file(path, script)
  return path
end

--- Writes the seed's get_enphase_schedules_json.sh into `dir`.
function M.seed_schedules_script(dir, base_url, site, user)
  local script = extract("#!/usr/bin/env bash", "exit 0Make")
  script = script:gsub("https://enlighten%.enphaseenergy%.com", base_url)
    :gsub('\nSITE_ID="[^\n]*', '\nSITE_ID="' .. (site or M.SITE) .. '"', 1)
    :gsub('\nUSERNAME="[^\n]*', '\nUSERNAME="' .. (user or M.USER) .. '"', 1)
    :gsub('\nLOG_FILE="[^\n]*', '\nLOG_FILE="' .. dir .. '/enphase_debug.log"', 1)
  local path = dir .. "/get_enphase_schedules_json.sh"
  M.write_file(path, script)
  return path
end

-- ------------------------------------------------------------ measuring children

--- The command line of the CLI from this checkout.
function M.cli(args)
  return "lua5.4 " .. M.shell_quote(M.ROOT .. "/bin/enphase") .. " " .. args
end

-- The names of `env` (a table or nil), sorted.
local function env_names(env)
  local names = {}
  for k in pairs(env or {}) do
    names[#names + 1] = k
  end
  table.sort(names)
  return names
end

local function env_prefix(env)
  local parts = {}
  for _, k in ipairs(env_names(env)) do
    parts[#parts + 1] = "export " .. k .. "=" .. M.shell_quote(env[k]) .. "; "
  end
  return table.concat(parts)
end

local function seconds(m, s)
  return tonumber(m) * 60 + tonumber(s)
end

--- Runs `cmd` in a child shell and measures it like getrusage(RUSAGE_CHILDREN):
-- bash's `times` gives the user and system CPU of everything the command
-- ran (curl, jq, base64... all reaped descendants) with millisecond
-- resolution; wall time is bash's $EPOCHREALTIME around the command only.
-- Returns {wall=, user=, sys=, cpu=, rc=, out=}.
function M.run_child(cmd, env)
  local dir = M.tmpdir()
  local script = env_prefix(env) .. "t0=$EPOCHREALTIME; { " .. cmd .. " ; } >" .. dir .. "/out 2>"
    .. dir .. "/err; rc=$?; t1=$EPOCHREALTIME; times >" .. dir .. "/times; echo \"$rc $t0 $t1\""
  local line = M.sh("bash -c " .. M.shell_quote(script))
  local rc, t0, t1 = line:match("^(%d+) ([%d.]+) ([%d.]+)")
  local times = M.read_file(dir .. "/times") or ""
  -- line 1: the shell itself; line 2: its children
  local um, us, sm, ss = times:match("\n(%d+)m([%d.]+)s (%d+)m([%d.]+)s")
  local r = {
    rc = tonumber(rc), wall = tonumber(t1) - tonumber(t0),
    user = seconds(um, us), sys = seconds(sm, ss),
    out = M.read_file(dir .. "/out") or "", err = M.read_file(dir .. "/err") or "",
  }
  r.cpu = r.user + r.sys
  M.rmdir(dir)
  return r
end

-- bench/exec_cpu.c, built once per run into a scratch folder.
local exec_cpu_bin

--- Runs `argv` (a list: program and arguments) directly, without a shell,
-- with `env` (a table) added to the environment, through bench/exec_cpu:
-- the CPU is wait4's rusage of that one process (microseconds), the wall
-- time is around its fork and exit. Returns {rc=, user=, sys=, cpu=, wall=,
-- faults=, maxrss_kib=, out=, err=} (seconds; faults: the process's minor
-- page faults; maxrss: the largest peak RSS of the process and the
-- children it waited for).
function M.exec_cpu(argv, env)
  if not exec_cpu_bin then
    local dir = M.tmpdir()
    exec_cpu_bin = dir .. "/exec_cpu"
    local _, code = M.sh("cc -O2 -o " .. M.shell_quote(exec_cpu_bin) .. " "
      .. M.shell_quote(M.ROOT .. "/bench/exec_cpu.c") .. " 2>&1")
    assert(code == 0, "cannot build bench/exec_cpu.c (a C compiler is needed)")
  end
  local dir = M.tmpdir()
  local parts = { M.shell_quote(exec_cpu_bin), "-o", dir .. "/out", "-e", dir .. "/err" }
  for _, k in ipairs(env_names(env)) do
    parts[#parts + 1] = M.shell_quote(k .. "=" .. env[k])
  end
  parts[#parts + 1] = "--"
  for _, a in ipairs(argv) do
    parts[#parts + 1] = M.shell_quote(a)
  end
  local line = M.sh(table.concat(parts, " "))
  local rc, user, sys, wall, faults, maxrss =
    line:match("(%d+) (%d+) (%d+) (%d+) (%d+) (%d+)%s*$")
  assert(rc, "exec_cpu: " .. line)
  local r = {
    rc = tonumber(rc), user = tonumber(user) / 1e6, sys = tonumber(sys) / 1e6,
    wall = tonumber(wall) / 1e6, faults = tonumber(faults), maxrss_kib = tonumber(maxrss),
    out = M.read_file(dir .. "/out") or "", err = M.read_file(dir .. "/err") or "",
  }
  r.cpu = r.user + r.sys
  M.rmdir(dir)
  return r
end

--- Peak RSS (KiB) of a command, from /usr/bin/time -f %M.
function M.peak_rss_of(cmd)
  local dir = M.tmpdir()
  local _, code = M.sh("/usr/bin/time -f %M -o " .. dir .. "/rss " .. cmd .. " >/dev/null 2>&1")
  local kib = tonumber((M.read_file(dir .. "/rss") or ""):match("(%d+)%s*$"))
  M.rmdir(dir)
  return kib, code
end

--- VmRSS and VmHWM (KiB) of this process.
function M.rss()
  local s = M.read_file("/proc/self/status") or ""
  return tonumber(s:match("VmRSS:%s*(%d+)")), tonumber(s:match("VmHWM:%s*(%d+)"))
end

-- ------------------------------------------------------------ measuring loops

--- Runs `cmd` once (the first run: its requests are listed), then `repeats`
-- times, each as a child process with the sim's counters read around it.
-- Returns medians: requests, connections, logins, cpu, wall (seconds), and
-- first_requests, first_names. `check(stdout)` must accept every output.
function M.measure_command(sim, cmd, env, repeats, check)
  local runs, first = {}, nil
  for i = 0, repeats do
    local before = M.counters(sim)
    local r = M.run_child(cmd, env)
    local d = M.delta(before, M.counters(sim))
    if r.rc ~= 0 or (check and not check(r.out)) then
      error(("%s failed (rc %s): %s %s"):format(cmd, tostring(r.rc), r.out, r.err))
    end
    r.requests, r.connections, r.logins = d.requests, d.connections, d.logins
    if i == 0 then
      first = r
      r.names = M.request_names(sim, before.seq)
    else
      runs[#runs + 1] = r
    end
  end
  return {
    first_requests = first.requests, first_names = first.names,
    requests = M.median_of(runs, "requests"), connections = M.median_of(runs, "connections"),
    logins = M.median_of(runs, "logins"),
    cpu = M.median_of(runs, "cpu"), wall = M.median_of(runs, "wall"), runs = runs,
  }
end

--- In this process: one call of `fn(client, 0)` (the first, listed), then
-- `calls` calls timed one by one (os.clock and store.monotonic deltas).
-- requests/connections/logins are per call (totals / calls).
function M.measure_in_process(sim, client, fn, calls)
  local before = M.counters(sim)
  assert(fn(client, 0))
  local first = M.delta(before, M.counters(sim))
  local first_names = M.request_names(sim, before.seq)
  before = M.counters(sim)
  local cpus, walls = {}, {}
  for i = 1, calls do
    local c0, t0 = os.clock(), M.now()
    local ok, err = fn(client, i)
    walls[i], cpus[i] = M.now() - t0, os.clock() - c0
    assert(ok, err)
  end
  local d = M.delta(before, M.counters(sim))
  return {
    first_requests = first.requests, first_names = first_names,
    requests = d.requests / calls, connections = d.connections / calls, logins = d.logins / calls,
    names = M.request_names(sim, before.seq),
    cpu = M.median(cpus), wall = M.median(walls),
  }
end

-- ------------------------------------------------------------ statistics and output

function M.median(list)
  local t = {}
  for i, v in ipairs(list) do
    t[i] = v
  end
  table.sort(t)
  local n = #t
  if n == 0 then
    return nil
  end
  if n % 2 == 1 then
    return t[(n + 1) // 2]
  end
  return (t[n // 2] + t[n // 2 + 1]) / 2
end

--- Median of field `k` over a list of records.
function M.median_of(records, k)
  local vals = {}
  for i, r in ipairs(records) do
    vals[i] = r[k]
  end
  return M.median(vals)
end

--- Milliseconds with a sensible number of digits.
function M.ms(seconds_value)
  if seconds_value == nil then
    return "-"
  end
  local v = seconds_value * 1000
  if v >= 100 then
    return string.format("%.0f", v)
  elseif v >= 1 then
    return string.format("%.1f", v)
  elseif v >= 0.01 then
    return string.format("%.3f", v)
  end
  return string.format("%.4f", v)
end

--- "x times less": ratio of reference to value, as "12.3x" (or "-").
function M.ratio(reference, value)
  if not reference or not value then
    return "-"
  end
  if value <= 0 then
    return reference > 0 and "inf" or "-"
  end
  local r = reference / value
  if r >= 100 then
    return string.format("%.0fx", r)
  elseif r >= 10 then
    return string.format("%.1fx", r)
  end
  return string.format("%.2fx", r)
end

function M.num(v)
  if v == nil then
    return "-"
  end
  if math.type(v) == "integer" or v == math.floor(v) then
    return string.format("%d", v)
  end
  return string.format("%.1f", v)
end

--- Prints a markdown table.
function M.print_table(title, headers, rows, notes)
  io.write("\n### ", title, "\n\n")
  io.write("| ", table.concat(headers, " | "), " |\n")
  local seps = {}
  for i = 1, #headers do
    seps[i] = i == 1 and "---" or "---:"
  end
  io.write("| ", table.concat(seps, " | "), " |\n")
  for _, row in ipairs(rows) do
    local cells = {}
    for i = 1, #headers do
      cells[i] = tostring(row[i] == nil and "-" or row[i])
    end
    io.write("| ", table.concat(cells, " | "), " |\n")
  end
  if notes then
    io.write("\n")
    for _, n in ipairs(notes) do
      io.write(n, "\n")
    end
  end
  io.flush()
end

function M.progress(fmt, ...)
  io.stderr:write("bench: ", string.format(fmt, ...), "\n")
  io.stderr:flush()
end

--- A client on the simulator (`extra` overrides options).
function M.client(base_url, extra)
  local opts = { email = M.EMAIL, password = M.PASSWORD, base_url = base_url, timeout = 30,
                 validate_delay = 0 }
  for k, v in pairs(extra or {}) do
    opts[k] = v
  end
  local c, err, kind = require("enphase").new(opts)
  assert(c, err and (err .. " (" .. tostring(kind) .. ")"))
  return c
end

--- True when the library has the token cache option (`enphase.new` refuses
-- unknown options, so a client with `token_cache` is the probe).
function M.has_token_cache()
  local probe = require("enphase").new({ email = "a@b.c", password = "x",
    base_url = "http://127.0.0.1:1", token_cache = "/nonexistent/bench-probe" })
  if probe then
    probe:close()
    return true
  end
  return false
end

--- True when the non-blocking engine is there (enphase.spawn/run/poll).
function M.has_engine()
  local e = require("enphase")
  return type(e.spawn) == "function" and type(e.run) == "function"
end

--- True when the running script is bench/<name>.lua (not required by another).
function M.is_main(name)
  return arg ~= nil and type(arg[0]) == "string" and arg[0]:match("([^/]+)%.lua$") == name
end

return M
