--- A guard against a LuaJIT 2.1 code generation bug on x64 (LuaJIT issue
-- #829, fixed upstream on 2022-04-05 by commit 5e3c45c4, "x64: Fix
-- RETHI/RETLO swap after call").
--
-- Since 2021-09-19 LuaJIT 2.1 compiles `next()` and `pairs()` loops: a
-- trace calls `lj_vm_next`, which answers the slot pointer in rax and the
-- next index in edx. When the register allocator wants the two the other
-- way round, the snapshots before the fix swap them with a 32-bit
-- `xchg eax, edx`, which cuts the 64-bit slot pointer to its low 32 bits:
-- the trace then reads from a wild address and the process dies with
-- SIGSEGV. Debian 12's luajit (2.1.0~beta3+git20220320) and every other
-- build of a snapshot from that window has the bug; whether a given run
-- meets it depends on register pressure in the trace that holds the loop,
-- so it strikes at random points (here: the account store's checks, two
-- nested `pairs()` loops inlined into a side trace).
--
-- The guard reads the machine code of every new trace before it first
-- runs (`jit.attach`, event "trace", "stop"). A call to one of LuaJIT's own
-- helpers followed directly by that `xchg` (byte 0x92; a fixed LuaJIT
-- writes 0x48 0x92, the 64-bit form) marks the bad swap. The guard then
-- turns the JIT off for the function where that trace starts (so the same
-- code is never compiled again) and flushes every trace, which drops the
-- bad one and any link to it. Everything else stays compiled. On a LuaJIT
-- without the bug, on other CPUs and on PUC Lua it does nothing.
--
-- `jit.attach` holds one handler per event: the guard calls a handler that
-- was attached before it (`luajit -jv`, `-jdump`), and one attached after
-- it (by the host) replaces it.
-- @module enphase.util.jit_guard

local M = {}

--- How many bad traces the guard has thrown away in this process.
M.caught = 0

-- The registry key that marks the guard installed (once a process, even
-- when the module is loaded twice under different package paths).
local MARK = "enphase.util.jit_guard"

local function u32(s, i)
  local a, b, c, d = s:byte(i, i + 3)
  return a + b * 256 + c * 65536 + d * 16777216
end

-- The addresses of the functions that traces call (`jit.util.ircalladdr`).
local function call_targets(jutil)
  local set = {}
  for i = 0, 1000 do
    local addr = jutil.ircalladdr(i)
    if addr == nil then
      break
    end
    if addr ~= 0 then
      set[addr] = true
    end
  end
  return set
end

--- True when machine code `mc` at address `addr` holds a call to one of
-- `targets` followed directly by a 32-bit `xchg eax, edx`.
-- A near call is `E8 rel32`; a far one `48 B8 imm64` (mov rax) and `FF D0`
-- (call rax).
function M.has_bad_swap(mc, addr, targets)
  local i = 1
  while true do
    local s = mc:find("\232....\146", i)
    if not s then
      break
    end
    local rel = u32(mc, s + 1)
    if rel >= 2 ^ 31 then
      rel = rel - 2 ^ 32
    end
    if targets[addr + (s - 1) + 5 + rel] then
      return true
    end
    i = s + 1
  end
  i = 1
  while true do
    local s = mc:find("\72\184........\255\208\146", i)
    if not s then
      return false
    end
    if targets[u32(mc, s + 2) + u32(mc, s + 6) * 2 ^ 32] then
      return true
    end
    i = s + 1
  end
end

--- Installs the guard when the process runs LuaJIT on x64; once a process.
-- Returns true when the guard is (or already was) installed, else false and
-- why not.
function M.install()
  local jit = rawget(_G, "jit")
  if type(jit) ~= "table" or jit.arch ~= "x64" or type(jit.attach) ~= "function" then
    return false, "not LuaJIT on x64"
  end
  local registry = debug.getregistry()
  if registry[MARK] then
    return true
  end
  local ok, jutil = pcall(require, "jit.util")
  if not ok or type(jutil.tracemc) ~= "function" or type(jutil.ircalladdr) ~= "function" then
    return false, "jit.util is missing"
  end
  local targets = call_targets(jutil)
  local function bad(tr)
    local mc, addr = jutil.tracemc(tr)
    return mc ~= nil and M.has_bad_swap(mc, addr, targets)
  end
  -- the JIT off for a Lua function (a C function has no traces of its own)
  local function jit_off(f)
    if type(f) == "function" and jutil.funcinfo(f).linedefined then
      jit.off(f)
      return true
    end
    return false
  end
  local starts = {} -- trace number -> the function where it starts
  local previous
  local function handler(what, tr, func, ...)
    if what == "start" then
      starts[tr] = func
    elseif what == "stop" then
      local start = starts[tr]
      starts[tr] = nil
      if bad(tr) then
        M.caught = M.caught + 1
        if not jit_off(start) then
          jit_off(func)
        end
        jit.flush()
        starts = {}
        -- the trace is gone: a handler attached before hears of the flush
        what, tr, func = "flush", nil, nil
      end
    elseif what == "abort" then
      starts[tr] = nil
    elseif what == "flush" then
      starts = {}
    end
    -- after the guard's own work, so that a failing handler cannot skip it
    if previous then
      return previous(what, tr, func, ...)
    end
  end
  -- the handler attached before, if any (its slot in the registry's
  -- `_VMEVENTS` table is the one the guard's handler takes)
  local events = registry._VMEVENTS
  local before = {}
  if type(events) == "table" then
    for k, v in pairs(events) do
      before[k] = v
    end
  end
  jit.attach(handler, "trace")
  for k, v in pairs(registry._VMEVENTS or {}) do
    if v == handler and before[k] ~= handler then
      previous = before[k]
    end
  end
  registry[MARK] = true
  -- traces compiled before the guard was installed
  for tr = 1, 65535 do
    local info = jutil.traceinfo(tr)
    if info == nil and tr > 1000 then
      break
    end
    if info and bad(tr) then
      M.caught = M.caught + 1
      jit.flush()
      break
    end
  end
  return true
end

return M
