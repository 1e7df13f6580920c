-- A dry-run client (option dry_run): the same library calls, the same
-- validation and the same waits as a real client, with each request's plan
-- recorded (client:plans()) instead of sent. Issue 8, defect 9 and design
-- change 1: the dry run and the run share one plan per operation.
local simulator = require("helpers.sim")
local H = require("helpers.client")
local enphase = require("enphase")

local BC = "/service/batteryConfig/api/v1"

describe("a dry-run client", function()
  local sim = simulator.for_file(_ENV)

  local function dry(extra)
    local opts = { site_id = H.SITE_ID, user_id = H.USER_ID, dry_run = true }
    for k, v in pairs(extra or {}) do
      opts[k] = v
    end
    return H.new(sim, opts)
  end

  -- "METHOD path?query body" of the requests a plan list shows, with the
  -- ITC disclaimer's time left out (it is the clock's).
  local function planned(steps)
    local out = {}
    for _, p in ipairs(steps) do
      if not p.wait then
        out[#out + 1] = p.method .. " " .. p.path .. (p.query and ("?" .. p.query) or "") .. " "
          .. (p.body or ""):gsub('"acceptedItcDisclaimer":"[^"]*"', "")
      end
    end
    return out
  end

  local function received(entries)
    local out = {}
    for _, e in ipairs(entries) do
      out[#out + 1] = e.method .. " " .. e.path .. (e.query ~= "" and ("?" .. e.query) or "") .. " "
        .. (e.body or ""):gsub('"acceptedItcDisclaimer":"[^"]*"', "")
    end
    return out
  end

  it("sends nothing at all, not even a login", function()
    local c = dry()
    assert.is_true(c:charge_from_grid(true))
    assert.is_true((c:disable("dtg", { delete_schedules = true })))
    assert.is_true(c:set_profile("cost_savings", 30))
    assert.is_true(c:set_reserve(40))
    assert.is_true(c:cancel_pending_profile())
    assert.truthy(c:add_schedule({ type = "CFG", start_time = "02:00", end_time = "05:00",
                                   days = { 1 } }))
    assert.truthy(c:update_schedule("abc-1", { start_time = "03:00" }))
    assert.is_true(c:delete_schedule("abc-1"))
    assert.truthy(c:delete_schedules("all"))
    assert.is_true(c:set_very_low_soc(10))
    assert.truthy(c:settings())
    assert.is_nil(c:status())
    assert.is_nil(c:login())
    assert.equal(0, #sim:log())
    assert.truthy(#c:plans() > 20)
    c:close()
  end)

  it("refuses exactly what a real client refuses, with the same message", function()
    local live = H.new(sim)
    local c = dry()
    local calls = {
      { "toggle", "xyz", true }, { "toggle", "cfg", "yes" },
      { "set_profile", "fast", 30 }, { "set_profile", "backup_only", 150 },
      { "set_reserve", 150 }, { "set_reserve", 1.5 },
      { "add_schedule", { type = "CFG", start_time = "25:00", end_time = "05:00", days = { 1 } } },
      { "add_schedule", { type = "CFG", start_time = "02:00", end_time = "05:00", days = { 9 } } },
      { "add_schedule", { type = "DTG", start_time = "02:00", end_time = "05:00", days = { 1 },
                          limit = 3, timezone = "UTC" } },
      { "add_schedule", { type = "CFG", start_time = "02:00", end_time = "05:00", days = { 1 },
                          timezone = "Mars/Olympus Mons" } },
      { "update_schedule", "../x", { start_time = "03:00" } },
      { "delete_schedule", "a b" },
      { "delete_schedules", "some" },
      { "set_very_low_soc", 101 },
      { "disable", "cfg", "yes" },
    }
    for _, call in ipairs(calls) do
      local name = call[1]
      local a = { live[name](live, table.unpack(call, 2)) }
      local b = { c[name](c, table.unpack(call, 2)) }
      assert.equal("input", a[3], name)
      assert.same(a, b, name)
    end
    assert.equal(0, #sim:log())
    assert.same({}, c:plans())
    live:close()
    c:close()
  end)

  it("records the seed's waits from the client's own settings", function()
    local c = dry({ validate_delay = 7, toggle_delete_delay = 4, delete_spacing = 3 })
    assert.is_true((c:disable("cfg", { delete_schedules = true })))
    local waits = {}
    for _, step in ipairs(c:plans()) do
      if step.wait then
        waits[#waits + 1] = step.wait
      end
    end
    assert.same({ 7, 4, 3 }, waits)
    c:close()
  end)

  it("plans the very requests the run sends: probe, isValid, PUT, read-back", function()
    local cases = {
      { "charge_from_grid", true }, { "discharge_to_grid", false }, { "restrict_discharge", true },
      { "set_profile", "cost_savings", 30 }, { "set_profile", "self-consumption", 20 },
      { "cancel_pending_profile" }, { "set_very_low_soc", 10 },
    }
    for _, call in ipairs(cases) do
      local name = call[1]
      local c = dry()
      assert.truthy(c[name](c, table.unpack(call, 2)))
      local live = H.new(sim) -- as a new process: it probes the site again
      assert.truthy(live:status())
      local mark = #sim:log()
      assert.truthy(live[name](live, table.unpack(call, 2)))
      assert.same(received(H.since(sim, mark)), planned(c:plans()), name)
      c:close()
      live:close()
    end
  end)

  it("plans a schedule's add and delete as the run sends them", function()
    local live = H.new(sim)
    assert.truthy(live:status())
    local spec = { type = "DTG", start_time = "17:00", end_time = "19:00", days = { 1, 5 },
                   timezone = "Europe/Paris" }
    local c = dry()
    assert.truthy(c:add_schedule(spec))
    local mark = #sim:log()
    local id = assert(live:add_schedule(spec))
    assert.same(received(H.since(sim, mark)), planned(c:plans()))
    c:close()
    c = dry()
    assert.is_true(c:delete_schedule(id))
    mark = #sim:log()
    assert.is_true(live:delete_schedule(id))
    assert.same(received(H.since(sim, mark)), planned(c:plans()))
    c:close()
    live:close()
  end)

  it("shows ids it does not know as placeholders and never a secret", function()
    local c = H.new(sim, { dry_run = true })
    assert.is_true(c:charge_from_grid(true))
    local steps = c:plans()
    -- the control objects are read first (issue 18)
    assert.equal(sim.base_url .. BC .. "/batterySettings/<site>?userId=<user>&source=enlm",
      steps[1].url)
    for _, step in ipairs(steps) do
      if not step.wait then
        assert.equal("[REDACTED]", step.headers["e-auth-token"])
        assert.is_nil(tostring(step.body):find(H.PASSWORD, 1, true))
      end
    end
    c:close()
  end)

  it("is refused a dry_run that is not a boolean", function()
    local c, err, kind = enphase.new({ email = "a", password = "b", dry_run = "yes" })
    assert.is_nil(c)
    assert.equal("input", kind)
    assert.truthy(err:find("dry_run", 1, true))
  end)
end)
