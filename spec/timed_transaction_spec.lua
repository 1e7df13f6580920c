-- Timed actions as transactions (issue 14, faults 1-2): the intent and its
-- expiry are recorded before the window is added, so that a failure at any
-- step, a kill included, leaves a record that the next run finishes or
-- removes once it has ended; a repeat replaces its window; a slow list
-- never prunes a younger record. The kills are real: a child process
-- running charge_for sends itself SIGKILL at an injected point (a step's
-- log line, or the wait inside the toggle). Clocks are virtual.
local simulator = require("helpers.sim")
local procs = require("helpers.procs")
local killed_child = require("helpers.killed_child")
local site_clock = require("helpers.site_clock")

local ZONE = "Europe/London"

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
    return killed_child.records(cache)
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
        killed_child.run(dir, sim.base_url, cache, clock.now, point)
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
