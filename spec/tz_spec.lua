-- enphase.util.tz: local times of real zones of the system's tz database,
-- and the rule for a local time the clocks skip (forward by the gap, or the
-- jump's instant when asked) or repeat (the first, or the second when
-- asked), in both hemispheres, east and west of Greenwich.
local tz = require("enphase.util.tz")

local function utc(y, mo, d, h, mi)
  return tz.timegm(y, mo, d, h, mi, 0)
end

-- "HH:MM+OFFSET" of epoch `t` in `zone`.
local function wall(zone, t)
  local lt = assert(tz.local_time(zone, t))
  return ("%02d:%02d%+d"):format(lt.hour, lt.min, lt.offset / 60)
end

describe("enphase.util.tz", function()
  it("reads the system's tz database: offsets either side of a change", function()
    assert.equal(0, tz.offset("Europe/London", utc(2026, 3, 29, 0, 59)))
    assert.equal(3600, tz.offset("Europe/London", utc(2026, 3, 29, 1, 0)))
    assert.equal(3600, tz.offset("Europe/London", utc(2026, 10, 25, 0, 59)))
    assert.equal(0, tz.offset("Europe/London", utc(2026, 10, 25, 1, 0)))
    assert.is_nil(tz.offset("Nowhere/Atlantis", 0))
  end)

  describe("to_epoch", function()
    it("maps a local time that happens once to its one instant", function()
      assert.equal(utc(2026, 7, 1, 11, 0), tz.to_epoch("Europe/London", 2026, 7, 1, 12, 0, 0))
      assert.equal(utc(2026, 1, 1, 12, 0), tz.to_epoch("Europe/London", 2026, 1, 1, 12, 0, 0))
      assert.equal(utc(2026, 3, 29, 0, 59), tz.to_epoch("Europe/London", 2026, 3, 29, 0, 59, 0))
      assert.equal(utc(2026, 3, 29, 1, 0), tz.to_epoch("Europe/London", 2026, 3, 29, 2, 0, 0))
      -- days beyond the month roll over
      assert.equal(utc(2026, 4, 1, 0, 0), tz.to_epoch("UTC", 2026, 3, 32, 0, 0, 0))
      local t, err = tz.to_epoch("Nowhere/Atlantis", 2026, 1, 1, 0, 0, 0)
      assert.is_nil(t)
      assert.truthy(err:find("Nowhere/Atlantis", 1, true), err)
    end)

    it("maps a skipped spring time forward by the gap, or to the jump when asked", function()
      -- Europe/London, 29 March 2026: 01:00 GMT is followed by 02:00 BST
      local t = tz.to_epoch("Europe/London", 2026, 3, 29, 1, 30, 0)
      assert.equal(utc(2026, 3, 29, 1, 30), t)
      assert.equal("02:30+60", wall("Europe/London", t))
      assert.equal(utc(2026, 3, 29, 1, 0),
        tz.to_epoch("Europe/London", 2026, 3, 29, 1, 30, 0, { gap = "jump" }))
      assert.equal(utc(2026, 3, 29, 1, 0),
        tz.to_epoch("Europe/London", 2026, 3, 29, 1, 0, 0, { gap = "jump" }))
      -- west of Greenwich: America/New_York, 8 March 2026, 02:00 EST -> 03:00 EDT
      t = tz.to_epoch("America/New_York", 2026, 3, 8, 2, 30, 0)
      assert.equal("03:30-240", wall("America/New_York", t))
      assert.equal(utc(2026, 3, 8, 7, 0),
        tz.to_epoch("America/New_York", 2026, 3, 8, 2, 30, 0, { gap = "jump" }))
      -- southern hemisphere, east: Australia/Sydney, 4 October 2026, 02:00 AEST -> 03:00 AEDT
      t = tz.to_epoch("Australia/Sydney", 2026, 10, 4, 2, 30, 0)
      assert.equal("03:30+660", wall("Australia/Sydney", t))
      assert.equal(utc(2026, 10, 3, 16, 0),
        tz.to_epoch("Australia/Sydney", 2026, 10, 4, 2, 59, 0, { gap = "jump" }))
      -- a day that starts at 01:00: America/Santiago, 6 September 2026
      t = tz.midnight("America/Santiago", utc(2026, 9, 6, 12, 0))
      assert.equal("01:00-180", wall("America/Santiago", t))
      assert.equal(6, tz.local_time("America/Santiago", t).day)
    end)

    it("takes the first of a doubled autumn time, or the second when asked", function()
      -- Europe/London, 25 October 2026: 01:00-01:59 BST, then again GMT
      local first = tz.to_epoch("Europe/London", 2026, 10, 25, 1, 30, 0)
      assert.equal(utc(2026, 10, 25, 0, 30), first)
      assert.equal("01:30+60", wall("Europe/London", first))
      local second = tz.to_epoch("Europe/London", 2026, 10, 25, 1, 30, 0, { second = true })
      assert.equal(utc(2026, 10, 25, 1, 30), second)
      assert.equal("01:30+0", wall("Europe/London", second))
      assert.equal(utc(2026, 10, 25, 0, 0), tz.to_epoch("Europe/London", 2026, 10, 25, 1, 0, 0))
      assert.equal(utc(2026, 10, 25, 2, 0), tz.to_epoch("Europe/London", 2026, 10, 25, 2, 0, 0))
      -- America/New_York, 1 November 2026: 01:00-01:59 EDT, then EST
      assert.equal(utc(2026, 11, 1, 5, 30), tz.to_epoch("America/New_York", 2026, 11, 1, 1, 30, 0))
      assert.equal(utc(2026, 11, 1, 6, 30),
        tz.to_epoch("America/New_York", 2026, 11, 1, 1, 30, 0, { second = true }))
      -- Australia/Sydney, 5 April 2026: 02:00-02:59 AEDT, then AEST
      assert.equal(utc(2026, 4, 4, 15, 30), tz.to_epoch("Australia/Sydney", 2026, 4, 5, 2, 30, 0))
      assert.equal(utc(2026, 4, 4, 16, 30),
        tz.to_epoch("Australia/Sydney", 2026, 4, 5, 2, 30, 0, { second = true }))
      -- a half-hour change: Australia/Lord_Howe, 5 April 2026, 02:00 +11 -> 01:30 +10:30
      assert.equal(utc(2026, 4, 4, 14, 45), tz.to_epoch("Australia/Lord_Howe", 2026, 4, 5, 1, 45, 0))
      assert.equal(utc(2026, 4, 4, 15, 15),
        tz.to_epoch("Australia/Lord_Howe", 2026, 4, 5, 1, 45, 0, { second = true }))
    end)

    it("gives back every minute of both change days in four zones", function()
      local days = {
        { "Europe/London", 2026, 3, 29 }, { "Europe/London", 2026, 10, 25 },
        { "America/New_York", 2026, 3, 8 }, { "America/New_York", 2026, 11, 1 },
        { "Australia/Sydney", 2026, 4, 5 }, { "Australia/Sydney", 2026, 10, 4 },
        { "Australia/Lord_Howe", 2026, 4, 5 }, { "Australia/Lord_Howe", 2026, 10, 4 },
      }
      for _, day in ipairs(days) do
        local zone, y, mo, d = day[1], day[2], day[3], day[4]
        local start = tz.to_epoch(zone, y, mo, d, 0, 0, 0)
        local finish = tz.to_epoch(zone, y, mo, d + 1, 0, 0, 0)
        local seen = {}
        for t = start, finish - 60, 60 do
          local lt = tz.local_time(zone, t)
          local key = lt.hour * 60 + lt.min
          local back = tz.to_epoch(zone, y, mo, d, lt.hour, lt.min, 0, { second = seen[key] })
          assert.equal(t, back, ("%s %d-%02d-%02d %02d:%02d"):format(zone, y, mo, d, lt.hour, lt.min))
          seen[key] = true
        end
        -- the day is 23, 24.5 (Lord Howe) or 25 hours long
        local hours = (finish - start) / 3600
        assert.truthy(hours == 23 or hours == 25 or hours == 23.5 or hours == 24.5, zone .. " " .. hours)
      end
    end)
  end)
end)
