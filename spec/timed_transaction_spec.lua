-- Timed actions as transactions (issue 14, faults 1-2): the intent and its
-- expiry are recorded before the window is added, so that a failure at any
-- step, a kill included, leaves a record that the next run finishes or
-- removes once it has ended; a repeat replaces its window; a slow list
-- never prunes a younger record. The kills are real: a child process
-- running charge_for sends itself SIGKILL at an injected point (a step's
-- log line, or the wait inside the toggle). Clocks are virtual.
local simulator = require("helpers.sim")
local H = require("helpers.client")
local procs = require("helpers.procs")
local child = require("helpers.child")
local site_clock = require("helpers.site_clock")
local json = require("cjson")

local ZONE = "Europe/London"

-- The child: charge_for(45) with the token cache, killed at `point`.
local CHILD = [[
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = arg[1] .. ";" .. package.cpath
local base_url, cache, now, point = arg[2], arg[3], tonumber(arg[4]), arg[5]
local function die()
  local stat = assert(io.open("/proc/self/stat")):read("*a")
  os.execute("kill -KILL " .. stat:match("^(%d+)"))
  os.exit(3) -- not reached
end
local armed = false
local client = assert(require("enphase").new({
  email = "demo@example.com", password = "demo-password", base_url = base_url,
  token_cache = cache, timeout = 5, timezone = "Europe/London",
  clock = function() return now end,
  sleep = function()
    if point == "during the wait" and armed then
      die()
    end
  end,
  log = function(_, line)
    if (point == "before the add" and line == "timed cfg: intent recorded")
      or (point == "after the add" and line:find("^added CFG schedule"))
      or (point == "after the toggle" and line == "timed cfg: mode turned on") then
      die()
    end
    armed = armed or line == "validate" -- isValid sent: the wait before the PUT is next
  end,
}))
local ok, err = client:charge_for(45)
io.stderr:write("not killed: ", tostring(ok), " ", tostring(err), "\n")
os.exit(4)
]]

describe("timed actions as transactions", function()
  local sim = simulator.for_file(_ENV)
  local clock = site_clock.new(sim, ZONE)
  local dir, cache

  -- a client on the virtual clock with the token cache (`extra` may change it)
  local function new_client(extra)
    local opts = { token_cache = cache }
    for k, v in pairs(extra or {}) do
      opts[k] = v
    end
    return clock:client(opts)
  end

  -- The owned section of the account store, for this site ({} when none).
  local function records()
    local text = procs.slurp(cache)
    local t = text and json.decode(text) or {}
    return t.owned and t.owned.sites[tostring(H.SITE_ID)] or {}
  end

  local function count(t)
    local n = 0
    for _ in pairs(t) do
      n = n + 1
    end
    return n
  end

  before_each(function()
    clock:start(2026, 4, 6, 10, 0, 0) -- a Monday morning
    dir = procs.tmpdir("timed")
    cache = dir .. "/session.json"
  end)

  after_each(function()
    procs.rmdir(dir)
  end)

  describe("a failure after the window was added (fault 1)", function()
    it("leaves a record with its expiry: the next run past it removes the window", function()
      local c = new_client()
      assert(c:status())
      sim:fault({ match = "/batterySettings/", method = "GET", status = 503, count = 20 })
      local ok, err, kind = c:charge_for(45)
      assert.is_nil(ok)
      assert.equal("http", kind)
      assert.matches("it is removed by the first run after it ends", err, 1, true)
      sim:control("POST", "/__sim/fault", { clear = true })
      c:close()
      assert.equal(1, #assert(new_client():schedules()).cfg) -- there for its 45 minutes
      local r = select(2, next(records()))
      assert.equal(clock.now + 45 * 60, r.expires)
      clock:advance(46 * 60)
      local c2 = new_client()
      assert.equal(1, c2:remove_expired())
      assert.equal(0, #assert(c2:schedules()).cfg)
      assert.same({}, records())
      c2:close()
    end)

    it("a repeat replaces the window left behind, never adds a second", function()
      local c = new_client()
      assert(c:status())
      sim:fault({ match = "/batterySettings/", method = "GET", status = 503, count = 20 })
      assert.is_nil((c:charge_for(45)))
      sim:control("POST", "/__sim/fault", { clear = true })
      clock:advance(60)
      local id, info = c:charge_for(45)
      assert.truthy(id, info)
      local list = assert(c:schedules())
      assert.equal(1, #list.cfg)
      assert.equal(id, list.cfg[1].id)
      assert.equal(1, count(records()))
      -- once more, after success: still one
      clock:advance(60)
      local again = assert(c:charge_for(30))
      list = assert(c:schedules())
      assert.equal(1, #list.cfg)
      assert.equal(again, list.cfg[1].id)
      assert.is_true(c:settings().charge_from_grid)
      clock:advance(31 * 60)
      assert.equal(1, c:remove_expired())
      assert.equal(0, #assert(c:schedules()).cfg)
      assert.is_false(c:settings().charge_from_grid) -- turned on by us: off again
      assert.same({}, records())
      c:close()
    end)
  end)

  it("a list asked for before another process added a timed window prunes nothing of it (fault 2)",
    function()
    local b = new_client()
    assert(b:status())
    local added
    local a = new_client({ log = function(_, line)
      -- the list's answer is in, from before b's window: b adds it now
      if not added and line:match("schedules %-> 200$") then
        added = true
        clock.now = clock.now + 1
        added = assert(b:charge_for(45))
      end
    end })
    assert.equal(0, #assert(a:schedules()).cfg) -- the list from before
    assert.is_string(added)
    assert.truthy(records()[added], "the record of b's window was pruned")
    assert.equal(1, #b:own_schedules())
    -- the next list (which shows it) keeps it, and it ends as it should
    assert.equal(1, #assert(a:schedules()).cfg)
    assert.truthy(records()[added])
    clock:advance(46 * 60)
    assert.equal(1, a:remove_expired())
    assert.equal(0, #assert(a:schedules()).cfg)
    assert.same({}, records())
    a:close()
    b:close()
  end)

  describe("killed at each step, the next run past the expiry leaves no window and no record",
    function()
    for _, point in ipairs({ "before the add", "after the add", "during the wait",
                             "after the toggle" }) do
      it(point, function()
        local warm = new_client()
        assert(warm:status()) -- the cache knows the site
        warm:close()
        procs.spit(dir .. "/child.lua", CHILD)
        local cmd = ("%s %s %s %s %s %d %s 2>%s"):format(child.lua,
          procs.shell_quote(dir .. "/child.lua"), procs.shell_quote(child.cpath),
          procs.shell_quote(sim.base_url), procs.shell_quote(cache), clock.now,
          procs.shell_quote(point), procs.shell_quote(dir .. "/err"))
        local status, how, code = os.execute(cmd)
        if type(status) == "number" then -- Lua 5.1: the wait status of the shell
          how, code = "exit", math.floor(status / 256)
        end
        local killed = (how == "signal" and code == 9) or (how == "exit" and code == 128 + 9)
        assert.is_true(killed, how .. " " .. code .. ": " .. tostring(procs.slurp(dir .. "/err")))
        assert.equal(1, count(records())) -- the intent, at least, is on disk
        local after = new_client()
        local list = assert(after:schedules())
        if point ~= "before the add" then
          assert.equal(1, #list.cfg) -- the window stays for its 45 minutes
          assert.truthy(records()[list.cfg[1].id], "the next run finishes the record")
        end
        after:close()
        clock:advance(46 * 60)
        local next_run = new_client()
        assert.truthy(next_run:remove_expired())
        assert.equal(0, #assert(next_run:schedules()).cfg)
        assert.same({}, records())
        assert.is_false(next_run:settings().charge_from_grid)
        next_run:close()
      end)
    end
  end)
end)
