-- Benchmark 7: the warm start (issue 8, design 4).
--
-- Domoticz and Home Assistant start the CLI for every poll: with a token
-- cache holding a valid JWT, `enphase token --json` and `enphase status`
-- send nothing, so their cost is the start of a Lua process plus what it
-- loads. The target: at most 2x a bare `lua5.4 -e ''`.
--
-- Each process is started directly, without a shell (bench/exec_cpu.c:
-- fork, exec, wait4), as cron or Domoticz start it, and its CPU is its own
-- rusage: user + system time of that one process. Rows, measured
-- interleaved (one run of each in turn, `repeats` rounds, so that the
-- machine's load drifts alike for all): a bare `lua5.4 -e ''`, one that
-- loads the library (`require "enphase"`), the warm CLI commands. The
-- "libcurl" column and the modules loaded come from one more run of each
-- (through a shell, not measured) whose exit hook looks in /proc/self/maps
-- and package.loaded.
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

function M.run()
  local repeats = B.REPEATS
  local sim = B.start_sim()
  local dir = B.tmpdir()
  local env = {
    ENPHASE_EMAIL = B.EMAIL, ENPHASE_PASSWORD = B.PASSWORD, ENPHASE_BASE_URL = sim.base_url,
    ENPHASE_TOKEN_CACHE = dir .. "/token-cache",
  }
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
  }
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
    local curl, mods = probe(r.cmd, r.env)
    results[r.key] = { cpu = cpu, wall = wall, libcurl = curl, modules = mods,
                       cpu_ratio = cpu / bare_cpu, wall_ratio = wall / bare_wall }
    out[#out + 1] = { r.label, B.ms(cpu), B.ms(wall), ("%.2fx"):format(cpu / bare_cpu),
                      ("%.2fx"):format(wall / bare_wall), curl }
  end
  B.rmdir(dir)
  sim:stop()
  local count = select(2, results.token.modules:gsub("[^,]+", ""))
  B.print_table("7. Warm start, each process exec'd directly (median CPU of " .. repeats
    .. " interleaved rounds)",
    { "process", "CPU ms", "wall ms", "CPU / bare", "wall / bare", "libcurl loaded" }, out, {
      "Target (issues 8 and 14): a warm `enphase token --json` or `enphase status` costs at most 2x a bare "
        .. "`lua5.4 -e ''` start. Requests sent by all the measured runs: " .. sent.requests .. ".",
      "Modules a warm `enphase status` loads: " .. results.status.modules .. ".",
      "A warm `enphase token --json` loads " .. count .. " enphase modules.",
    })
  return results
end

if B.is_main("start") then
  M.run()
end
return M
