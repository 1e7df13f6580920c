-- Timed actions (charge_for / discharge_for, `cfg on --for`) and the record
-- of the schedules the library created: windows from now in the site's time
-- zone, across midnight, removed once ended, and the user's windows left
-- alone.
local simulator = require("helpers.sim")
local H = require("helpers.client")
local site_clock = require("helpers.site_clock")
local json = require("cjson")

local ZONE = "Europe/London"
local SCHEDULES = "/battery/sites/" .. H.SITE_ID .. "/schedules"

describe("timed actions", function()
  local sim = simulator.for_file(_ENV)
  local clock = site_clock.new(sim, ZONE)
  local client, dir

  before_each(function()
    clock:start(2026, 4, 6, 23, 40, 10) -- a Monday, 23:40:10 BST
    dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -m 700 " .. dir)
    client = clock:client()
  end)

  after_each(function()
    client:close()
    os.execute("rm -rf " .. dir)
  end)

  -- A window made in the Enphase app: straight to the API, not through the library.
  local function user_window(kind, from, to, days)
    local t = sim:tokens(H.EMAIL, H.PASSWORD)
    local res = sim:bc(t, "POST", SCHEDULES, { timezone = ZONE, startTime = from, endTime = to,
      limit = kind == "CFG" and 100 or 6, scheduleType = kind, days = days, isEnabled = true })
    assert.equal(200, res.status, res.body)
    return json.decode(res.body).scheduleId
  end

  it("charge_for makes a window from now in the site's time zone, across midnight, CFG on",
    function()
    local id, info = client:charge_for(45)
    assert.truthy(id, info)
    assert.same({ start_time = "23:40", end_time = "00:25", days = { 1 }, timezone = ZONE,
                  limit = 100, expires = clock.now - 10 + 45 * 60 }, info)
    local list = assert(client:schedules())
    assert.equal(1, #list.cfg)
    assert.equal(id, list.cfg[1].id)
    assert.same({ 1 }, list.cfg[1].days)
    assert.is_true(client:settings().charge_from_grid)
    assert.same({ { id = id, mode = "cfg", start_time = "23:40", end_time = "00:25", days = { 1 },
                    expires = info.expires } }, client:own_schedules())
    -- the house charges from the grid for those 45 minutes, into Tuesday
    clock:advance(3600)
    local house = sim:control("GET", "/__sim/house")
    local charged = 0
    for _, b in ipairs(house.buckets) do
      if b.cfg_seconds > 0 then
        charged = charged + b.cfg_seconds
      end
    end
    assert.equal(45 * 60 - 10, charged)
  end)

  it("discharge_for sets a DTG window down to its limit", function()
    local id, info = client:discharge_for(90, { limit = 40 })
    assert.truthy(id, info)
    assert.equal("01:10", info.end_time)
    local list = assert(client:schedules())
    assert.equal(40, list.dtg[1].limit)
    assert.is_true(client:settings().discharge_to_grid)
  end)

  it("removes an ended timed window on the next operation, turning the mode off first", function()
    local id = assert(client:charge_for(30))
    clock:advance(31 * 60)
    local mark = #sim:log()
    local other = assert(client:add_schedule({ type = "DTG", start_time = "17:00", end_time = "18:00",
      days = { 1, 2, 3 }, timezone = ZONE }))
    local lines = H.lines(H.since(sim, mark))
    local put, delete
    for i, l in ipairs(lines) do
      if l:match("^PUT .*/batterySettings/") then
        put = put or i
      elseif l:find("/" .. id .. "/delete", 1, true) then
        delete = i
      end
    end
    assert.truthy(put and delete and put < delete, table.concat(lines, "\n"))
    local list = assert(client:schedules())
    assert.equal(0, #list.cfg)
    assert.is_false(client:settings().charge_from_grid)
    local own = client:own_schedules()
    assert.equal(1, #own)
    assert.equal(other, own[1].id)
    -- nothing ended: the check sends nothing
    mark = #sim:log()
    assert.equal(0, client:remove_expired())
    assert.equal(mark, #sim:log())
  end)

  it("leaves the user's windows alone: no overlap with them, and only_own deletes ours only",
    function()
    local theirs = user_window("CFG", "23:00", "23:50", { 1 })
    local ok, err, kind = client:charge_for(30)
    assert.is_nil(ok)
    assert.equal("input", kind)
    assert.truthy(err:find(theirs, 1, true))
    local mine = assert(client:add_schedule({ type = "CFG", start_time = "02:00", end_time = "05:00",
      days = { 2 }, timezone = ZONE }))
    clock:advance(15 * 60) -- 23:55, after their window
    local later = assert(client:charge_for(20, { timezone = ZONE }))
    assert.truthy(later)
    local n, failures = client:delete_schedules("cfg", { only_own = true })
    assert.equal(2, n)
    assert.same({}, failures)
    local list = assert(client:schedules())
    assert.equal(1, #list.cfg)
    assert.equal(theirs, list.cfg[1].id)
    assert.same({}, client:own_schedules())
    -- without the option, every schedule of the kind goes, as in the seed
    assert.truthy(client:add_schedule({ type = "CFG", start_time = "02:00", end_time = "05:00",
      days = { 2 }, timezone = ZONE }))
    assert.equal(2, (client:delete_schedules("cfg")))
    assert.equal(0, #assert(client:schedules()).cfg)
    assert.truthy(mine)
  end)

  it("a new timed window replaces our overlapping one", function()
    local first = assert(client:charge_for(30))
    clock:advance(600)
    local second, info = client:charge_for(30)
    assert.truthy(second, info)
    local list = assert(client:schedules())
    assert.equal(1, #list.cfg)
    assert.equal(second, list.cfg[1].id)
    assert.are_not.equal(first, second)
  end)

  it("keeps the record in the account store, private, for the next process", function()
    local cache = dir .. "/session.json"
    local c1 = clock:client({ token_cache = cache })
    local id = assert(c1:charge_for(30))
    c1:close()
    local f = assert(io.open(cache))
    local text = f:read("a")
    f:close()
    assert.truthy(json.decode(text).owned.sites[tostring(H.SITE_ID)][id], text)
    assert.equal(tonumber("600", 8), require("enphase.store").file_mode(cache) % 512)
    clock:advance(3600)
    local c2 = clock:client({ token_cache = cache })
    assert.equal(1, #c2:own_schedules())
    assert.equal(1, c2:remove_expired())
    assert.equal(0, #assert(c2:schedules()).cfg)
    c2:close()
    -- a schedule deleted in the app is forgotten at the next listing
    local c3 = clock:client({ token_cache = cache })
    local other = assert(c3:add_schedule({ type = "RBD", start_time = "12:00", end_time = "13:00",
      days = { 3 }, timezone = ZONE }))
    local t = sim:tokens(H.EMAIL, H.PASSWORD)
    assert.equal(200, sim:bc(t, "POST", SCHEDULES .. "/" .. other .. "/delete", {}).status)
    assert.truthy(c3:schedules())
    assert.same({}, c3:own_schedules())
    c3:close()
  end)

  it("refuses bad durations and options before sending anything", function()
    local mark = #sim:log()
    for _, bad in ipairs({ { 0 }, { 1440 }, { 1.5 }, { "45" }, { 30, "x" }, { 30, { limit = 3 } },
                           { 30, { colour = "red" } }, { 30, { timezone = "Mars/Base" } } }) do
      local ok, err, kind = client:charge_for(bad[1], bad[2])
      assert.is_nil(ok)
      assert.equal("input", kind, tostring(err))
    end
    assert.equal(mark, #sim:log())
  end)

  describe("enphase cfg on --for", function()
    local function run(...)
      local env = { ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD,
                    ENPHASE_BASE_URL = sim.base_url, ENPHASE_TIMEZONE = ZONE }
      local argv = { ... }
      argv[#argv + 1] = "--no-token-cache"
      return H.main(argv, env)
    end

    it("charges now for a while; refuses durations it cannot do", function()
      sim:control("POST", "/__sim/clock", { freeze = false, offset = 0 })
      local code, out = run("cfg", "on", "--for", "1h30m", "--limit", "80")
      assert.equal(0, code)
      assert.truthy(out:find("limit 80%", 1, true), out)
      local list = assert(client:schedules())
      assert.equal(1, #list.cfg)
      assert.equal(80, list.cfg[1].limit)
      for _, bad in ipairs({ { "cfg", "on", "--for", "25h" }, { "cfg", "on", "--for", "soon" },
                             { "cfg", "off", "--for", "45m" }, { "dtg", "on", "--for", "0m" } }) do
        local c, _, err = run(table.unpack(bad))
        assert.equal(2, c, err)
      end
      local c, dry = run("dtg", "on", "--for", "45m", "--dry-run")
      assert.equal(0, c)
      assert.truthy(dry:find("schedules", 1, true))
      assert.equal(1, #assert(client:schedules()).cfg + #assert(client:schedules()).dtg)
    end)
  end)
end)
