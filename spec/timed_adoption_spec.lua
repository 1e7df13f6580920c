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
local child = require("helpers.child")
local tz = require("enphase.util.tz")
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
local client = assert(require("enphase").new({
  email = "demo@example.com", password = "demo-password", base_url = base_url,
  token_cache = cache, timeout = 5, timezone = "Europe/London",
  clock = function() return now end,
  sleep = function() end,
  log = function(_, line)
    if (point == "before the add" and line == "timed cfg: intent recorded")
      or (point == "after the add" and line:find("^added CFG schedule")) then
      die()
    end
  end,
}))
local ok, err = client:charge_for(45)
io.stderr:write("not killed: ", tostring(ok), " ", tostring(err), "\n")
os.exit(4)
]]

describe("a timed action killed half-way adopts only its own window", function()
  local sim = simulator.for_file(_ENV)
  local now, dir, cache

  local function advance(seconds)
    now = now + seconds
    sim:control("POST", "/__sim/clock", { advance = seconds })
  end

  local function new_client()
    return H.new(sim, { token_cache = cache, clock = function()
      return now
    end })
  end

  -- The owned section of the account store, for this site ({} when none).
  local function records()
    local text = procs.slurp(cache)
    local t = text and json.decode(text) or {}
    return t.owned and t.owned.sites[tostring(H.SITE_ID)] or {}
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
      days = { tz.local_time(ZONE, now).wday }, isEnabled = enabled })
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
    procs.spit(dir .. "/child.lua", CHILD)
    local cmd = ("%s %s %s %s %s %d %s 2>%s"):format(child.lua,
      procs.shell_quote(dir .. "/child.lua"), procs.shell_quote(child.cpath),
      procs.shell_quote(sim.base_url), procs.shell_quote(cache), now,
      procs.shell_quote(point), procs.shell_quote(dir .. "/err"))
    local status, how, code = os.execute(cmd)
    if type(status) == "number" then -- Lua 5.1: the wait status of the shell
      how, code = "exit", math.floor(status / 256)
    end
    local killed = (how == "signal" and code == 9) or (how == "exit" and code == 128 + 9)
    assert.is_true(killed, how .. " " .. code .. ": " .. tostring(procs.slurp(dir .. "/err")))
    assert.same({ "?cfg" }, keys(records())) -- the intent, not completed
  end

  -- The next run past the expiry: returns its client and log lines.
  local function run_past_expiry()
    advance(46 * 60)
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
    now = tz.to_epoch(ZONE, 2026, 4, 6, 10, 0, 0) -- a Monday morning
    sim:control("POST", "/__sim/clock", { at = now, freeze = true })
    sim:control("POST", "/__sim/house", { start = now })
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
    advance(46 * 60)
    local code, _, err = H.main({ "cfg", "on", "--for", "20m", "--token-cache", cache },
      { ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD, ENPHASE_BASE_URL = sim.base_url,
        ENPHASE_TIMEZONE = ZONE },
      { clock = function() return now end, sleep = function() end })
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
