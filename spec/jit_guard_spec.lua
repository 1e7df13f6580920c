-- The guard against LuaJIT's x64 register swap bug (util/jit_guard.lua,
-- issue 16): LuaJIT 2.1 snapshots from 2021-09 to 2022-04 (Debian 12's
-- among them) swap the two results of `lj_vm_next` with a 32-bit
-- `xchg eax, edx` and die with SIGSEGV on the cut pointer. The guard reads
-- each new trace's machine code and throws a bad one away before it runs.
-- Whether a run meets the bug depends on LuaJIT's random string hash seed,
-- so the child below makes the guard take every trace that calls a helper
-- as bad: that drives the same path (JIT off for one function, every trace
-- flushed, from inside the trace handler) on every run.
local guard = require("enphase.util.jit_guard")
local child = require("helpers.child")
local procs = require("helpers.procs")

-- `n` as 4 bytes, little-endian, two's complement.
local function le32(n)
  if n < 0 then
    n = n + 2 ^ 32
  end
  local out = {}
  for i = 1, 4 do
    out[i] = string.char(n % 256)
    n = math.floor(n / 256)
  end
  return table.concat(out)
end

describe("the LuaJIT guard", function()
  describe("reads a trace's machine code", function()
    local HELPER, ADDR = 0x55aa000103cf, 0x55a9f0002000
    local targets = { [HELPER] = true }
    -- two NOPs, then a near call to `target` (E8 rel32), then `tail`
    local function near(target, tail)
      return "\144\144\232" .. le32(target - (ADDR + 2 + 5)) .. tail
    end

    it("finds a call to one of LuaJIT's helpers followed by the 32-bit xchg eax, edx", function()
      assert.is_true(guard.has_bad_swap(near(HELPER, "\146\72\139\66\8"), ADDR, targets))
    end)

    it("passes the 64-bit xchg that a fixed LuaJIT writes (48 92)", function()
      assert.is_false(guard.has_bad_swap(near(HELPER, "\72\146"), ADDR, targets))
    end)

    it("passes 0x92 after a call to anything else, and a trace without calls", function()
      assert.is_false(guard.has_bad_swap(near(HELPER + 16, "\146"), ADDR, targets))
      assert.is_false(guard.has_bad_swap("\144\146\195", ADDR, targets))
      assert.is_false(guard.has_bad_swap("", ADDR, targets))
    end)

    it("finds the far form: mov rax, imm64; call rax; xchg eax, edx", function()
      local imm = le32(HELPER % 2 ^ 32) .. le32(math.floor(HELPER / 2 ^ 32))
      assert.is_true(guard.has_bad_swap("\144\72\184" .. imm .. "\255\208\146", ADDR, targets))
      assert.is_false(guard.has_bad_swap("\144\72\184" .. imm .. "\255\208\72\146", ADDR, targets))
    end)
  end)

  if not child.luajit then
    it("does nothing outside LuaJIT", function()
      local ok, why = guard.install()
      assert.is_false(ok)
      assert.equal("not LuaJIT on x64", why)
    end)
    return
  end

  it("is installed once loaded through enphase.util.compat", function()
    require("enphase.util.compat")
    assert.is_true(debug.getregistry()["enphase.util.jit_guard"])
    assert.is_true((guard.install()))
  end)

  describe("in a LuaJIT process of its own", function()
    local dir
    before_each(function()
      dir = procs.tmpdir("jitguard")
    end)
    after_each(function()
      procs.rmdir(dir)
    end)

    -- Runs `body` under luajit after installing the guard; its stdout.
    local function run(body)
      local path = dir .. "/main.lua"
      procs.spit(path, 'package.path = "lua/?.lua;" .. package.path\n' .. body, "600")
      return procs.capture(child.lua .. " " .. procs.shell_quote(path) .. " 2>&1")
    end

    it("throws away every bad trace before it runs; the results stay right and the JIT on",
      function()
      local out = run([[
local jutil = require("jit.util")
local guard = require("enphase.util.jit_guard")
-- every trace with a near call to one of LuaJIT's helpers counts as bad
-- (the only helper these loops call is lj_vm_next)
guard.has_bad_swap = function(mc, addr, targets)
  local i = 1
  while true do
    local s = mc:find("\232....", i)
    if not s then return false end
    local a, b, c, d = mc:byte(s + 1, s + 4)
    local rel = a + b * 256 + c * 65536 + d * 16777216
    if rel >= 2 ^ 31 then rel = rel - 2 ^ 32 end
    if targets[addr + s - 1 + 5 + rel] then return true end
    i = s + 1
  end
end
assert(guard.install())
local function sum(t)
  local s = 0
  for _, v in pairs(t) do s = s + v end
  return s
end
local function nested(o)
  local s = 0
  for _, inner in pairs(o) do
    for _, v in pairs(inner) do s = s + v end
  end
  return s
end
local t = { a = 1, b = 2, c = 3, d = 4 }
local o = { x = { a = 1, b = 2 }, y = { c = 3 }, z = {} }
local total = 0
for _ = 1, 3000 do
  total = total + sum(t) + nested(o)
end
-- in a function of its own: the main chunk's loop above is one the guard
-- turned the JIT off for; no helper call (`%` calls one)
local plain = (function()
  local n = 0
  for i = 1, 100000 do n = n + i end
  return n
end)()
local traces = 0
for tr = 1, 1000 do
  if jutil.traceinfo(tr) then traces = traces + 1 end
end
print(("total=%d plain=%d caught=%d jit=%s traces=%d"):format(total, plain, guard.caught,
  tostring((jit.status())), traces))
]])
      local total, plain, caught, on, traces = out:match(
        "^total=(%d+) plain=(%d+) caught=(%d+) jit=(%a+) traces=(%d+)\n$")
      assert.truthy(total, out)
      assert.equal(3000 * (10 + 6), tonumber(total))
      local want = 0
      for i = 1, 100000 do
        want = want + i
      end
      assert.equal(want, tonumber(plain))
      -- a few traces thrown away, then their functions stay interpreted:
      -- no endless compile-and-flush
      assert.truthy(tonumber(caught) >= 1 and tonumber(caught) <= 6, out)
      assert.equal("true", on)
      assert.truthy(tonumber(traces) >= 1, out) -- the loop without calls is compiled
    end)

    it("keeps passing events to a trace handler attached before it (luajit -jv)", function()
      local out = run([[
local seen = 0
jit.attach(function(what) if what == "stop" then seen = seen + 1 end end, "trace")
local guard = require("enphase.util.jit_guard")
assert(guard.install())
local x = 0
for i = 1, 100000 do x = x + i % 3 end
print("seen=" .. seen)
]])
      assert.truthy(tonumber(out:match("^seen=(%d+)\n$")) >= 1, out)
    end)
  end)
end)
