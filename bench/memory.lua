-- Benchmark 4: memory.
--
--   peak RSS (VmHWM) of a Lua process holding one client after 10,000
--   operations, against a bare `lua5.4 -e ''` and one that only loaded the
--   library; RSS checkpoints along the way show whether it keeps growing;
--   bytes definitely / indirectly lost under valgrind for 1,000 operations.
--
-- An operation is, in turn: status() (no request), settings(), schedules(),
-- toggle("cfg", on/off) with validate_delay 0 (3 requests).
-- Run: lua5.4 bench/memory.lua
--
-- `lua5.4 bench/memory.lua --worker OPS BASE_URL` is the measured process:
-- it loads only the library (not the benchmark helpers), and prints one JSON
-- line of checkpoints {ops, rss, hwm} (KiB).
local bench_dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"

local function worker(ops, base_url)
  local root = bench_dir .. "../"
  package.path = root .. "lua/?.lua;" .. root .. "lua/?/init.lua;" .. package.path
  package.cpath = root .. "build/?.so;" .. package.cpath
  local function rss()
    local f = assert(io.open("/proc/self/status"))
    local s = f:read("a")
    f:close()
    return tonumber(s:match("VmRSS:%s*(%d+)")), tonumber(s:match("VmHWM:%s*(%d+)"))
  end
  local points = {}
  local function checkpoint(n)
    collectgarbage("collect")
    local r, h = rss()
    points[#points + 1] = ('{"ops":%d,"rss":%d,"hwm":%d}'):format(n, r, h)
  end
  local enphase = require("enphase")
  checkpoint(-1)
  local client = assert(enphase.new({ email = "demo@example.com", password = "demo-password",
    base_url = base_url, validate_delay = 0 }))
  checkpoint(0)
  local on = true
  local marks = { [1] = true, [100] = true, [1000] = true, [10000] = true, [ops] = true }
  for i = 1, ops do
    local k = i % 4
    local ok, err
    if k == 1 then
      ok, err = client:status()
    elseif k == 2 then
      ok, err = client:settings()
    elseif k == 3 then
      ok, err = client:schedules()
    else
      ok, err = client:toggle("cfg", on)
      on = not on
    end
    if not ok then
      io.stderr:write("operation ", i, " failed: ", tostring(err), "\n")
      os.exit(1)
    end
    if marks[i] then
      checkpoint(i)
    end
  end
  client:close()
  io.write("[", table.concat(points, ","), "]\n")
end

if arg and arg[1] == "--worker" then
  worker(math.tointeger(tonumber(arg[2])), arg[3])
  return
end

package.path = bench_dir .. "?.lua;" .. package.path
local B = require("common")

local M = {}

local function worker_cmd(ops, base_url)
  return "lua5.4 " .. B.shell_quote(B.ROOT .. "/bench/memory.lua") .. " --worker " .. ops .. " "
    .. B.shell_quote(base_url)
end

-- "definitely lost: 1,234 bytes in 5 blocks" -> 1234 (0 when all freed).
local function lost(text, what)
  local n = text:match(what .. " lost: ([%d,]+) bytes")
  if n then
    return tonumber((n:gsub(",", "")))
  end
  if text:find("All heap blocks were freed", 1, true) or text:find("no leaks are possible", 1, true) then
    return 0
  end
  return nil
end

function M.run()
  local ops = math.tointeger(tonumber(os.getenv("BENCH_MEMORY_OPS") or "")) or 10000
  local vg_ops = math.tointeger(tonumber(os.getenv("BENCH_VALGRIND_OPS") or "")) or 1000
  local sim = B.start_sim()

  B.progress("memory: bare lua5.4 and the library loaded")
  local bare = B.peak_rss_of("lua5.4 -e ''")
  local loaded = B.peak_rss_of("lua5.4 -e " .. B.shell_quote(
    ("package.path=%q..package.path package.cpath=%q..package.cpath require('enphase')"):format(
      B.ROOT .. "/lua/?.lua;" .. B.ROOT .. "/lua/?/init.lua;", B.ROOT .. "/build/?.so;")))

  B.progress("memory: one client, %d operations", ops)
  local before = B.counters(sim)
  local t0 = B.now()
  local out, code = B.sh(worker_cmd(ops, sim.base_url) .. " 2>&1")
  local wall = B.now() - t0
  local d = B.delta(before, B.counters(sim))
  local points = code == 0 and B.json.decode(out)
  if not points then
    error("memory worker failed: " .. out)
  end

  B.progress("memory: valgrind, %d operations", vg_ops)
  local dir = B.tmpdir()
  local vg_cmd = "valgrind --leak-check=full --show-leak-kinds=definite,indirect "
    .. "--errors-for-leak-kinds=definite,indirect --log-file=" .. dir .. "/vg.log "
    .. worker_cmd(vg_ops, sim.base_url)
  local vg_t0 = B.now()
  local vg_out, vg_code = B.sh(vg_cmd .. " 2>&1")
  local vg_wall = B.now() - vg_t0
  local vg_log = B.read_file(dir .. "/vg.log") or ""
  local definite, indirect = lost(vg_log, "definitely"), lost(vg_log, "indirectly")
  local errors_line = vg_log:match("ERROR SUMMARY: ([^\n]*)") or "?"
  if vg_code ~= 0 or not definite then
    io.stderr:write(vg_out, "\n", vg_log, "\n")
  end
  B.rmdir(dir)
  sim:stop()

  local rows = {
    { "bare `lua5.4 -e ''` (peak, /usr/bin/time)", "-", B.num(bare), "-" },
    { "`lua5.4` + `require \"enphase\"` (peak)", "-", B.num(loaded), B.num(loaded - bare) },
  }
  for _, p in ipairs(points) do
    local label = p.ops == -1 and "worker: library loaded"
      or p.ops == 0 and "worker: one client, no request yet"
      or ("worker: after %d operations"):format(p.ops)
    rows[#rows + 1] = { label, B.num(p.rss), B.num(p.hwm), B.num(p.hwm - bare) }
  end
  local last = points[#points]
  local first_op, hundred = points[3], nil
  for _, p in ipairs(points) do
    if p.ops == 100 then
      hundred = p
    end
  end
  hundred = hundred or first_op
  B.print_table("4. Memory: one client, " .. ops .. " operations (KiB)",
    { "process", "VmRSS", "peak (VmHWM)", "peak - bare lua" }, rows, {
      ("%d operations: %d requests, %d TCP connection(s), %.1f s. Peak growth from operation %d to %d: "
        .. "%d KiB; from operation %d to %d: %d KiB."):format(ops, d.requests, d.connections, wall,
        first_op.ops, last.ops, last.hwm - first_op.hwm, hundred.ops, last.ops, last.hwm - hundred.hwm),
      ("valgrind (%d operations, %.0f s): definitely lost %s bytes, indirectly lost %s bytes; "
        .. "errors: %s; exit %s."):format(vg_ops, vg_wall, B.num(definite), B.num(indirect),
        errors_line, tostring(vg_code)),
    })
  return { bare = bare, loaded = loaded, points = points, definite = definite, indirect = indirect }
end

if B.is_main("memory") then
  M.run()
end
return M
