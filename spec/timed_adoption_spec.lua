-- A timed action killed half-way adopts, at the next run, only a window it
-- added itself (issue 14): its intent lists, just before the add is sent,
-- the windows of the same mode, times and days already there; a window
-- among them, or one made after a run that never sent its add, is the
-- user's and is never taken for ours (nor removed when the action ends).
-- When two windows could be ours, none is taken and the log says so. The
-- kills are real (SIGKILL of a child process), the clocks virtual.
local simulator = require("helpers.sim")
local H = require("helpers.client")
local procs = require("helpers.procs")
local killed_child = require("helpers.killed_child")
local site_clock = require("helpers.site_clock")
local tz = require("enphase.util.tz")
local json = require("cjson")

local ZONE = "Europe/London"

describe("a timed action killed half-way adopts only its own window", function()
  local sim = simulator.for_file(_ENV)
  local clock = site_clock.new(sim, ZONE)
  local dir, cache

  local function new_client()
    return clock:client({ token_cache = cache })
  end

  -- The owned section of the account store, for this site ({} when none).
  local function records()
    return killed_child.records(cache)
  end

  local function keys(t)
    local out = {}
    for k in pairs(t) do
      out[#out + 1] = k
    end
    table.sort(out)
    return out
  end

  -- A window the user makes in the app with the times of the child's
  -- action (10:00-10:45 today); `enabled` false lets it sit beside ours.
  local function user_window(enabled)
    local t = sim:tokens(H.EMAIL, H.PASSWORD)
    local res = sim:bc(t, "POST", ("/battery/sites/%d/schedules"):format(H.SITE_ID), {
      timezone = ZONE, startTime = "10:00", endTime = "10:45", limit = 100, scheduleType = "CFG",
      days = { tz.local_time(ZONE, clock.now).wday }, isEnabled = enabled })
    assert.equal(200, res.status, res.body)
    return json.decode(res.body).scheduleId
  end

  local function ids(list)
    local out = {}
    for _, s in ipairs(list.cfg) do
      out[#out + 1] = s.id
    end
    table.sort(out)
    return out
  end

  -- Runs the child, which kills itself at `point`.
  local function killed_at(point)
    local warm = new_client()
    assert(warm:status()) -- the cache knows the site
    warm:close()
    killed_child.run(dir, sim.base_url, cache, clock.now, point)
    assert.same({ "?cfg" }, keys(records())) -- the intent, not completed
  end

  -- The next run past the expiry: returns its client and log lines.
  local function run_past_expiry()
    clock:advance(46 * 60)
    local client, probe = new_client()
    assert.truthy(client:remove_expired())
    return client, probe
  end

  local function logged(probe, pattern)
    for _, line in ipairs(probe.lines) do
      if line:find(pattern) then
        return line
      end
    end
    return nil
  end

  before_each(function()
    clock:start(2026, 4, 6, 10, 0, 0) -- a Monday morning
    dir = procs.tmpdir("adopt")
    cache = dir .. "/session.json"
  end)

  after_each(function()
    procs.rmdir(dir)
  end)

  it("a user's identical window there before the add survives; ours is adopted and removed",
    function()
    local theirs = user_window(false)
    killed_at("after the add")
    assert.same({ theirs }, records()["?cfg"].known)
    local after = new_client()
    local list = assert(after:schedules())
    assert.equal(2, #list.cfg)
    local ours
    for _, id in ipairs(ids(list)) do
      if id ~= theirs then
        ours = id
      end
    end
    assert.same({ ours }, keys(records())) -- ours adopted, theirs not
    after:close()
    local next_run = run_past_expiry()
    assert.same({ theirs }, ids(assert(next_run:schedules())))
    assert.same({}, records())
    next_run:close()
  end)

  it("a window the user makes after a run killed before sending its add is not adopted",
    function()
    killed_at("before the add")
    assert.is_nil(records()["?cfg"].known) -- the add was never sent
    local theirs = user_window(true)
    local after = new_client()
    assert.same({ theirs }, ids(assert(after:schedules())))
    assert.same({ "?cfg" }, keys(records())) -- still waiting, nothing adopted
    after:close()
    local next_run, probe = run_past_expiry()
    assert.same({ theirs }, ids(assert(next_run:schedules())))
    assert.same({}, records())
    assert.truthy(logged(probe,
      "^info the timed cfg window 10:00%-10:45 on the server is not taken for ours"))
    next_run:close()
  end)

  it("an unreadable list in the record read back adopts nothing (fails closed), and raises nothing",
    function()
    killed_at("after the add")
    local text = assert(procs.slurp(cache))
    local t = json.decode(text)
    t.owned.sites[tostring(H.SITE_ID)]["?cfg"].known = { 42, true }
    procs.spit(cache, json.encode(t), "600")
    local after = new_client()
    local list = assert(after:schedules())
    assert.equal(1, #list.cfg)
    assert.same({ "?cfg" }, keys(records())) -- not adopted
    assert.is_nil(records()["?cfg"].known)
    after:close()
    local next_run = run_past_expiry()
    assert.same(ids(list), ids(assert(next_run:schedules()))) -- left alone
    assert.same({}, records())
    next_run:close()
  end)

  it("two windows that could be ours: none is adopted, both left alone, and a warning says so",
    function()
    killed_at("after the add")
    assert.same({}, records()["?cfg"].known)
    local theirs = user_window(false) -- made after our add: cannot be told from ours
    -- the next run past the expiry is the CLI's: the warning is on stderr
    -- without --verbose
    clock:advance(46 * 60)
    local code, _, err = H.main({ "cfg", "on", "--for", "20m", "--token-cache", cache },
      { ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD, ENPHASE_BASE_URL = sim.base_url,
        ENPHASE_TIMEZONE = ZONE },
      { clock = function() return clock.now end, sleep = function() end })
    assert.equal(0, code, err)
    assert.truthy(err:find("enphase: warn: a timed cfg action stopped half-way and more than one "
      .. "10:00-10:45 window could be the one it added: none is taken for ours, all are left "
      .. "alone", 1, true), err)
    local next_run = new_client()
    local list = assert(next_run:schedules())
    local at_ten = {}
    for _, s in ipairs(list.cfg) do
      if s.start_time == "10:00" then
        at_ten[#at_ten + 1] = s.id
      end
    end
    assert.equal(2, #at_ten) -- ours and theirs, both left alone
    assert.truthy(at_ten[1] == theirs or at_ten[2] == theirs)
    assert.is_nil(records()["?cfg"])
    assert.is_nil(records()[at_ten[1]])
    assert.is_nil(records()[at_ten[2]])
    next_run:close()
  end)
end)
