-- The input rules, on their own (no server needed).
local validate = require("enphase.battery.validate")

local function schedule(over)
  local s = { type = "CFG", start_time = "02:00", end_time = "05:00", days = { 3, 1, 2 },
              timezone = "Europe/London" }
  for k, v in pairs(over or {}) do
    s[k] = v
  end
  return s
end

describe("validate.schedule", function()
  it("normalises a good schedule and applies the seed's default limits", function()
    local s = assert(validate.schedule(schedule()))
    assert.same({ 1, 2, 3 }, s.days)
    assert.equal(100, s.limit)
    assert.equal(120, s.start_minute)
    assert.equal(6, validate.schedule(schedule({ type = "dtg" })).limit)
    assert.equal("DTG", validate.schedule(schedule({ type = "dtg" })).type)
  end)

  local bad = {
    { { type = "XYZ" }, "type must be one of CFG, DTG, RBD" },
    { { type = 1 }, "type must be one of CFG, DTG, RBD" },
    { { start_time = "2:00" }, "start_time must be a time HH:MM from 00:00 to 23:59" },
    { { start_time = "24:00" }, "start_time must be a time HH:MM" },
    { { end_time = "05:60" }, "end_time must be a time HH:MM" },
    { { end_time = "02:00" }, "end_time must differ from start_time" },
    { { days = {} }, "days must be a non-empty list of days 1-7" },
    { { days = { 0 } }, "days must be a non-empty list of days 1-7" },
    { { days = { 8 } }, "days must be" },
    { { days = { 1, 1 } }, "days must be" },
    { { days = { 1.5 } }, "days must be" },
    { { days = "1,2" }, "days must be" },
    { { limit = 5 }, "limit must be an integer from 6 to 100" },
    { { limit = 101 }, "limit must be an integer from 6 to 100" },
    { { limit = 50.5 }, "limit must be an integer from 6 to 100" },
    { { limit = "50" }, "limit must be an integer from 6 to 100" },
    { { timezone = "London" }, "timezone must be an IANA time zone name" },
    { { timezone = "Europe/London; rm -rf" }, "timezone must be" },
    { { colour = "red" }, "unknown schedule field" },
  }
  for _, case in ipairs(bad) do
    it("refuses " .. case[2]:match("^%S+") .. " with a message naming the field: " .. case[2],
      function()
        local s, err = validate.schedule(schedule(case[1]))
        assert.is_nil(s)
        assert.truthy(err:find(case[2], 1, true), err)
      end)
  end

  it("requires a time zone when the site's is unknown", function()
    local s = schedule()
    s.timezone = nil
    local ok, err = validate.schedule(s)
    assert.is_nil(ok)
    assert.truthy(err:find("timezone is required", 1, true))
    assert.equal("Asia/Tokyo", validate.schedule(s, { timezone = "Asia/Tokyo" }).timezone)
  end)
end)

describe("validate.overlaps", function()
  local function w(a, b, days)
    return { start_time = a, end_time = b, days = days or { 1 } }
  end

  it("sees windows that share a minute on a shared day", function()
    assert.is_true(validate.overlaps(w("02:00", "05:00"), w("04:59", "06:00")))
    assert.is_false(validate.overlaps(w("02:00", "05:00"), w("05:00", "06:00")))
    assert.is_false(validate.overlaps(w("02:00", "05:00", { 1 }), w("02:00", "05:00", { 2 })))
  end)

  it("follows a window past midnight into the next day, and Sunday into Monday", function()
    assert.is_true(validate.overlaps(w("23:00", "02:00", { 1 }), w("01:00", "03:00", { 2 })))
    assert.is_false(validate.overlaps(w("23:00", "02:00", { 1 }), w("01:00", "03:00", { 3 })))
    assert.is_true(validate.overlaps(w("23:00", "02:00", { 7 }), w("01:00", "03:00", { 1 })))
  end)
end)

describe("the other checkers", function()
  it("accept only booleans for toggles", function()
    assert.is_true(validate.boolean("on", true))
    local v, err = validate.boolean("on", "yes")
    assert.is_nil(v)
    assert.equal('on must be true or false (got "yes")', err)
  end)

  it("accept kinds and profiles by name only", function()
    assert.equal("all", validate.mode("mode", "ALL", true))
    assert.is_nil(validate.mode("mode", "all"))
    assert.is_nil(validate.profile("profile", "eco"))
    assert.equal("backup_only", validate.profile("profile", "backup_only"))
  end)

  it("accept schedule ids as the server gives them", function()
    assert.truthy(validate.schedule_id("id", "0b5f6c1e-7d1a-4c43-9a36-2f1f0f0a1b2c"))
    assert.is_nil(validate.schedule_id("id", "../../etc"))
    assert.is_nil(validate.schedule_id("id", 12))
  end)
end)
