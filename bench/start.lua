-- Benchmark 7: the warm start (issue 8, design 4; issue 14 item 5).
--
-- Domoticz and Home Assistant start the CLI for every poll: with a token
-- cache holding a valid JWT, `enphase token --json` and `enphase status`
-- send nothing, so their cost is the start of a Lua process plus what it
-- loads. The target: at most 2x a bare `lua5.4 -e ''`.
--
-- Each process is started directly, without a shell (bench/exec_cpu.c:
-- fork, exec, wait4), as cron or Domoticz start it, and its CPU is its own
-- rusage: user + system time of that one process; "faults" are its minor
-- page faults (each page it touched first: on a virtual machine these cost
-- as much as thousands of instructions). Rows, measured interleaved (one
-- run of each in turn, `repeats` rounds, so that the machine's load drifts
-- alike for all): a bare `lua5.4 -e ''`, one that loads the library
-- (`require "enphase"`), the warm CLI commands (which load the library's
-- files from enphase.precompiled's bytecode), and `token --json` once more
-- with every file compiled from source. "CPU / bare" is the
-- median of each round's ratio to that round's bare run, with the middle
-- half of the rounds (25th-75th percentile) beside it. The "libcurl"
-- column and the modules loaded come from one more run of each (through a
-- shell, not measured) whose exit hook looks in /proc/self/maps and
-- package.loaded.
--
-- Before and after: `BENCH_BASE=<git revision>` adds the warm commands of
-- that revision's Lua files and bin/enphase (`git archive`, run with this
-- checkout's C modules), measured in the same rounds.
--
-- Instructions: `BENCH_INSTRUCTIONS=1` runs each row once more under
-- valgrind's callgrind and adds its instruction count, which does not
-- depend on the machine's load (the CPU times here vary by +-20 % with it).
--
-- Run: lua5.4 bench/start.lua  (prints a markdown table).
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local B = require("common")

local M = {}

-- Run before the command: at exit, say on stderr whether libcurl is mapped
-- (and which enphase modules were loaded).
local PROBE = [[
local exit = os.exit
local function report()
  local f = io.open("/proc/self/maps")
  local maps = f and f:read("a") or ""
  if f then f:close() end
  local mods = {}
  for k in pairs(package.loaded) do
    if k:match("^enphase") then mods[#mods + 1] = k end
  end
  table.sort(mods)
  io.stderr:write("PROBE libcurl=", maps:find("libcurl", 1, true) and "yes" or "no",
    " modules=", table.concat(mods, ","), "\n")
end
os.exit = function(...) report() return exit(...) end
]]

local function probe(cmd, env)
  local e = {}
  for k, v in pairs(env or {}) do
    e[k] = v
  end
  e.LUA_INIT_5_4 = PROBE
  local r = B.run_child(cmd .. (cmd:find("bin/enphase", 1, true) and "" or " -e 'os.exit(0)'"), e)
  local curl, mods = r.err:match("PROBE libcurl=(%a+) modules=([^\n]*)")
  return curl or "?", mods or ""
end

-- The Lua files and bin/enphase of revision `rev` in a scratch folder,
-- with this checkout's C modules (build/): nil and why when git cannot.
local function checkout_of(rev)
  local dir = B.tmpdir()
  local out, code = B.sh(("git -C %s archive %s bin lua | tar -x -C %s 2>&1"):format(
    B.shell_quote(B.ROOT), B.shell_quote(rev), B.shell_quote(dir)))
  if code ~= 0 then
    return nil, out
  end
  B.sh(("ln -s %s %s"):format(B.shell_quote(B.ROOT .. "/build"), B.shell_quote(dir .. "/build")))
  return dir
end

-- The instructions one run of row `r` executes (callgrind), or nil when
-- not asked for (BENCH_INSTRUCTIONS=1) or valgrind fails.
local function instructions(r)
  if os.getenv("BENCH_INSTRUCTIONS") ~= "1" then
    return nil
  end
  local dir = B.tmpdir()
  local argv = { "valgrind", "--tool=callgrind", "--callgrind-out-file=" .. dir .. "/cg" }
  for _, a in ipairs(r.argv) do
    argv[#argv + 1] = a
  end
  local res = B.exec_cpu(argv, r.env)
  local text = B.read_file(dir .. "/cg") or ""
  B.rmdir(dir)
  local n = text:match("\nsummary: (%d+)") or text:match("\ntotals: (%d+)")
  return res.rc == 0 and tonumber(n) or nil
end

-- "a, b, c" without the common "enphase." prefix.
local function short_list(mods)
  return (mods:gsub("enphase%.", ""):gsub(",", ", "))
end

local function count_of(mods)
  return select(2, mods:gsub("[^,]+", ""))
end

-- The median and the 25th and 75th percentiles of `values`.
local function quartiles(values)
  local t = {}
  for i, v in ipairs(values) do
    t[i] = v
  end
  table.sort(t)
  local function at(q)
    return t[math.max(1, math.floor(q * (#t - 1) + 0.5) + 1)]
  end
  return B.median(t), at(0.25), at(0.75)
end

function M.run()
  local repeats = B.REPEATS
  local sim = B.start_sim()
  local dir = B.tmpdir()
  local env = {
    ENPHASE_EMAIL = B.EMAIL, ENPHASE_PASSWORD = B.PASSWORD, ENPHASE_BASE_URL = sim.base_url,
    ENPHASE_TOKEN_CACHE = dir .. "/token-cache",
  }
  -- the same command with enphase.precompiled's install() doing nothing:
  -- every file compiled from source, as before the module (LUA_INIT runs
  -- first; its one line costs next to nothing)
  local source_env = {}
  for k, v in pairs(env) do
    source_env[k] = v
  end
  source_env.LUA_INIT = "package.loaded['enphase.precompiled'] = { install = function() end }"
  local lib_paths = ("package.path=%q..package.path package.cpath=%q..package.cpath"):format(
    B.ROOT .. "/lua/?.lua;" .. B.ROOT .. "/lua/?/init.lua;", B.ROOT .. "/build/?.so;")
  local enphase = B.ROOT .. "/bin/enphase"
  local rows = {
    { key = "bare", label = "bare `lua5.4 -e ''`", argv = { "lua5.4", "-e", "" } },
    { key = "lib", label = "`lua5.4` + `require \"enphase\"` (no client)",
      argv = { "lua5.4", "-e", lib_paths .. " require('enphase')" } },
    { key = "token", label = "warm `enphase token --json`",
      argv = { "lua5.4", enphase, "token", "--json" }, env = env },
    { key = "status", label = "warm `enphase status`", argv = { "lua5.4", enphase, "status" },
      env = env },
    { key = "status_json", label = "warm `enphase status --json`",
      argv = { "lua5.4", enphase, "status", "--json" }, env = env },
    { key = "token_source", label = "warm `enphase token --json`, compiled from source",
      argv = { "lua5.4", enphase, "token", "--json" }, env = source_env },
  }
  local base_rev, base_dir = os.getenv("BENCH_BASE")
  if base_rev and base_rev ~= "" then
    local why
    base_dir, why = checkout_of(base_rev)
    assert(base_dir, "BENCH_BASE=" .. base_rev .. ": " .. tostring(why))
    local old = base_dir .. "/bin/enphase"
    rows[#rows + 1] = { key = "base_token", label = "warm `enphase token --json` at " .. base_rev,
                        argv = { "lua5.4", old, "token", "--json" }, env = env }
    rows[#rows + 1] = { key = "base_status", label = "warm `enphase status` at " .. base_rev,
                        argv = { "lua5.4", old, "status" }, env = env }
  end
  for _, r in ipairs(rows) do
    local quoted = {}
    for i, a in ipairs(r.argv) do
      quoted[i] = B.shell_quote(a)
    end
    r.cmd = table.concat(quoted, " ") -- the probe's run, through a shell
  end
  -- the cold run that fills the cache
  local cold = B.run_child(B.cli("token --json"), env)
  assert(cold.rc == 0, "enphase token --json failed: " .. cold.err)
  local before = B.counters(sim)
  B.progress("start: %d rounds of %d commands, interleaved", repeats, #rows)
  local samples = {}
  for _, r in ipairs(rows) do
    samples[r.key] = {}
  end
  for _ = 1, repeats do
    for _, r in ipairs(rows) do
      local res = B.exec_cpu(r.argv, r.env)
      if res.rc ~= 0 then
        error(("%s failed (rc %d): %s"):format(r.cmd, res.rc, res.err))
      end
      local s = samples[r.key]
      s[#s + 1] = res
    end
  end
  local sent = B.delta(before, B.counters(sim))
  local bare_cpu = B.median_of(samples.bare, "cpu")
  local bare_wall = B.median_of(samples.bare, "wall")
  local out, results = {}, {}
  for _, r in ipairs(rows) do
    local cpu, wall = B.median_of(samples[r.key], "cpu"), B.median_of(samples[r.key], "wall")
    local ratios = {}
    for i, res in ipairs(samples[r.key]) do
      ratios[i] = res.cpu / samples.bare[i].cpu -- this round's bare run
    end
    local ratio, low, high = quartiles(ratios)
    local curl, mods = probe(r.cmd, r.env)
    local ir = instructions(r)
    results[r.key] = { cpu = cpu, wall = wall, libcurl = curl, modules = mods, instructions = ir,
                       cpu_ratio = ratio, cpu_ratio_p25 = low, cpu_ratio_p75 = high,
                       wall_ratio = wall / bare_wall,
                       faults = B.median_of(samples[r.key], "faults") }
    out[#out + 1] = { r.label, B.ms(cpu), ("%.2fx"):format(ratio),
                      ("%.2f-%.2f"):format(low, high), B.ms(wall),
                      ("%.2fx"):format(wall / bare_wall), B.num(results[r.key].faults),
                      ir and ("%.2f M"):format(ir / 1e6) or "-", tostring(count_of(mods)), curl }
  end
  B.rmdir(dir)
  if base_dir then
    B.rmdir(base_dir)
  end
  sim:stop()
  local notes = {
    "Target (issues 8 and 14): a warm `enphase token --json` or `enphase status` costs at most 2x a bare "
      .. "`lua5.4 -e ''` start. Requests sent by all the measured runs: " .. sent.requests .. ".",
    ("Bare: median %s ms CPU; ratios are per round (each run against that round's bare run)."):format(
      B.ms(bare_cpu)),
    "Modules a warm `enphase token --json` loads (" .. count_of(results.token.modules) .. "): "
      .. short_list(results.token.modules) .. ".",
    "Modules a warm `enphase status` loads (" .. count_of(results.status.modules) .. "): "
      .. short_list(results.status.modules) .. ".",
  }
  if results.base_token then
    notes[#notes + 1] = "At " .. base_rev .. ", `enphase token --json` loads ("
      .. count_of(results.base_token.modules) .. "): " .. short_list(results.base_token.modules)
      .. " (C modules: this checkout's)."
  end
  B.print_table("7. Warm start, each process exec'd directly (median of " .. repeats
    .. " interleaved rounds)",
    { "process", "CPU ms", "CPU / bare", "(p25-p75)", "wall ms", "wall / bare", "page faults",
      "instructions", "enphase modules", "libcurl loaded" }, out, notes)
  return results
end

if B.is_main("start") then
  M.run()
end
return M
