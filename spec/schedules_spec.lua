-- Schedules: list, add, update, delete, clear, disable; checked on what the
-- server received and on the waits asked of the injected sleep.
local simulator = require("helpers.sim")
local H = require("helpers.client")
local json = require("cjson")

local BC = "/service/batteryConfig/api/v1"
local LIST = BC .. "/battery/sites/" .. H.SITE_ID .. "/schedules"

describe("schedules", function()
  local sim = simulator.for_file(_ENV)
  local client, probe, mark

  before_each(function()
    client, probe = H.new(sim, { timezone = "Europe/London" })
    assert.truthy(client:status())
    assert.truthy(client:site_settings())
    mark = #sim:log()
    probe.sleeps = {}
  end)

  after_each(function()
    client:close()
  end)

  local function sent()
    return H.since(sim, mark)
  end

  -- Schedule creations only (the XSRF dance also POSTs under .../schedules).
  local function creations()
    local out = {}
    for _, e in ipairs(sim:requests_matching("POST", LIST)) do
      if e.path == LIST then
        out[#out + 1] = e
      end
    end
    return out
  end

  local function add(over)
    local spec = { type = "CFG", start_time = "02:00", end_time = "05:00", days = { 1, 2, 3 } }
    for k, v in pairs(over or {}) do
      spec[k] = v
    end
    return client:add_schedule(spec)
  end

  it("adds a schedule with the seed's payload plus isEnabled, and verifies it", function()
    local id, state = add({ limit = 90 })
    assert.is_string(id)
    assert.equal("applied", state)
    local log = sent()
    assert.same({ "GET " .. LIST, "POST " .. LIST, "GET " .. LIST }, H.lines(log))
    assert.same({ timezone = "Europe/London", startTime = "02:00", endTime = "05:00", limit = 90,
                  scheduleType = "CFG", days = { 1, 2, 3 }, isEnabled = true },
      json.decode(log[2].body))
    assert.truthy(log[2].body:find('"days":[1,2,3]', 1, true), "days are integers")
    assert.equal(client:tokens().xsrf, log[2].headers["x-xsrf-token"])
  end)

  it("defaults the limit to 100 for CFG and 6 for DTG", function()
    add()
    add({ type = "DTG", start_time = "17:00", end_time = "19:00" })
    local posts = creations()
    local limits = {}
    for _, p in ipairs(posts) do
      local b = json.decode(p.body)
      limits[b.scheduleType] = b.limit
    end
    assert.same({ CFG = 100, DTG = 6 }, limits)
  end)

  it("uses the site's time zone from data.json when none is given", function()
    local plain = H.new(sim)
    assert.truthy(plain:add_schedule({ type = "RBD", start_time = "10:00", end_time = "11:00",
                                       days = { 6 } }))
    local post = creations()[1]
    assert.equal("Europe/London", json.decode(post.body).timezone)
  end)

  it("lists every schedule with its fields, by type", function()
    local id = add()
    local dtg = add({ type = "DTG", start_time = "18:00", end_time = "20:00", days = { 5 } })
    local list = assert(client:schedules())
    assert.equal(1, #list.cfg)
    assert.equal(1, #list.dtg)
    assert.equal(0, #list.rbd)
    local s = list.cfg[1]
    assert.same({ id, "CFG", "02:00", "05:00", 100, { 1, 2, 3 }, "Europe/London", true },
      { s.id, s.type, s.start_time, s.end_time, s.limit, s.days, s.timezone, s.enabled })
    assert.equal(dtg, list.dtg[1].id)
    assert.is_string(s.createdAt)
    assert.is_false(list.pending)
  end)

  it("refuses an overlapping window before sending, naming the other schedule", function()
    local id = add()
    mark = #sim:log()
    local ok, err, kind = add({ start_time = "04:00", end_time = "06:00", days = { 3, 4 } })
    assert.is_nil(ok)
    assert.equal("input", kind)
    assert.truthy(err:find(id, 1, true))
    assert.same({ "GET " .. LIST }, H.lines(sent()))
  end)

  it("reports the server's 409 CONFLICTING_SCHEDULE as conflict with its code", function()
    sim:fault({ match = "/schedules", method = "POST", action = "status", status = 409,
                body = '{"code":"CONFLICTING_SCHEDULE_CFG","message":"Schedule overlaps"}' })
    local ok, err, kind, code = add()
    assert.is_nil(ok)
    assert.equal("conflict", kind)
    assert.equal("CONFLICTING_SCHEDULE_CFG", code)
    assert.truthy(err:find("overlaps", 1, true))
  end)

  it("polls a pending write until it is applied, with the injected sleep", function()
    sim:config({ pending_seconds = 5 })
    local waiting = H.new(sim, { timezone = "UTC", pending_interval = 3,
      sleep = function(s)
        sim:clock(s)
      end })
    local id, state = waiting:add_schedule({ type = "CFG", start_time = "01:00", end_time = "02:00",
                                             days = { 7 } })
    assert.is_string(id)
    assert.equal("applied", state)
    assert.is_false(waiting:schedules().pending)
  end)

  it("gives up on a write still pending after the bound, keeping its id", function()
    sim:config({ pending_seconds = 3600 })
    local impatient = H.new(sim, { timezone = "UTC", pending_checks = 2 })
    local ok, err, kind, id = impatient:add_schedule({ type = "CFG", start_time = "01:00",
                                                      end_time = "02:00", days = { 7 } })
    assert.is_nil(ok)
    assert.equal("pending", kind)
    assert.truthy(err:find(id, 1, true))
    assert.equal(1, #impatient:schedules().cfg)
  end)

  it("updates a schedule by id in one PUT", function()
    local id = add()
    add({ type = "CFG", start_time = "12:00", end_time = "13:00" }) -- reorders the list
    mark = #sim:log()
    assert.equal("applied", client:update_schedule(id, { end_time = "06:00", limit = 80 }))
    local put = sim:requests_matching("PUT", LIST .. "/" .. id)[1]
    local body = json.decode(put.body)
    assert.same({ "02:00", "06:00", 80, { 1, 2, 3 }, "CFG" },
      { body.startTime, body.endTime, body.limit, body.days, body.scheduleType })
    for _, s in ipairs(client:schedules().cfg) do
      if s.id == id then
        assert.equal("06:00", s.end_time)
      end
    end
  end)

  it("refuses updates that are not valid, sending nothing but the list", function()
    local id = add()
    mark = #sim:log()
    local _, err, kind = client:update_schedule(id, { limit = 3 })
    assert.equal("input", kind)
    assert.truthy(err:find("limit must be an integer from 6 to 100", 1, true))
    _, err, kind = client:update_schedule("no-such-id", { limit = 50 })
    assert.equal("input", kind)
    assert.truthy(err:find("no schedule with id", 1, true))
    for _, e in ipairs(sent()) do
      assert.equal("GET", e.method)
    end
  end)

  it("deletes one schedule with POST .../<id>/delete and {}", function()
    local id = add()
    mark = #sim:log()
    assert.is_true(client:delete_schedule(id))
    local log = sent()
    assert.same({ "POST " .. LIST .. "/" .. id .. "/delete" }, H.lines(log))
    assert.equal("{}", log[1].body)
    assert.equal(0, #client:schedules().cfg)
  end)

  it("clears a kind 2 s apart, and a failure does not stop the others", function()
    local ids = { add(), add({ start_time = "10:00", end_time = "11:00" }),
                  add({ start_time = "12:00", end_time = "13:00" }) }
    add({ type = "DTG", start_time = "18:00", end_time = "19:00" })
    sim:fault({ match = ids[2] .. "/delete", action = "status", status = 500, count = 10 })
    probe.sleeps = {}
    local deleted, failures = client:delete_schedules("cfg")
    assert.equal(2, deleted)
    assert.equal(1, #failures)
    assert.equal(ids[2], failures[1].id)
    assert.equal("http", failures[1].kind)
    local spacing = 0
    for _, s in ipairs(probe.sleeps) do
      if s == 2 then
        spacing = spacing + 1
      end
    end
    assert.equal(2, spacing)
    local left = client:schedules()
    assert.equal(1, #left.cfg)
    assert.equal(1, #left.dtg)
  end)

  it("clears all kinds with 'all'", function()
    add()
    add({ type = "DTG", start_time = "18:00", end_time = "19:00" })
    add({ type = "RBD", start_time = "20:00", end_time = "21:00" })
    local deleted, failures = client:delete_schedules("all")
    assert.equal(3, deleted)
    assert.same({}, failures)
  end)

  it("disables the seed's way: toggle off, wait 2-3 s, then delete that kind", function()
    assert.is_true(client:charge_from_grid(true))
    add()
    add({ start_time = "10:00", end_time = "11:00" })
    mark = #sim:log()
    probe.sleeps = {}
    local ok, deleted = client:disable("cfg", { delete_schedules = true })
    assert.is_true(ok)
    assert.equal(2, deleted)
    local lines = H.lines(sent())
    assert.truthy(lines[1]:find("isValid", 1, true))
    assert.truthy(lines[2]:find("^PUT"))
    assert.truthy(lines[#lines]:find("/delete$"))
    assert.equal(1, probe.sleeps[1])
    assert.is_true(probe.sleeps[2] >= 2 and probe.sleeps[2] <= 3)
    assert.equal(2, probe.sleeps[3])
    assert.is_false(client:settings().charge_from_grid)
  end)

  it("refuses bad input to every schedule call with zero requests", function()
    local calls = {
      function() return add({ type = "XYZ" }) end,
      function() return add({ start_time = "25:00" }) end,
      function() return add({ days = {} }) end,
      function() return add({ limit = 200 }) end,
      function() return add({ timezone = "Mars" }) end,
      function() return client:delete_schedule(42) end,
      function() return client:delete_schedules("everything") end,
      function() return client:disable("all") end,
      function() return client:update_schedule("x", "y") end,
    }
    for i, call in ipairs(calls) do
      local ok, err, kind = call()
      assert.is_nil(ok, "call " .. i)
      assert.equal("input", kind, "call " .. i .. ": " .. tostring(err))
    end
    assert.same({}, sent())
  end)
end)
