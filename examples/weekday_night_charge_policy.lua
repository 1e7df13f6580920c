-- A schedule policy (the README's example): charge from the grid 01:00-04:00
-- on weekdays, up to 90 %, with a timed window the library owns; nothing else.
--
-- Try it on the simulated house, then run it against the account:
--   enphase simulate --policy examples/weekday_night_charge_policy.lua --days 7
--   enphase policy examples/weekday_night_charge_policy.lua --loop
return {
  name = "weekday night charge",
  run = function(client, ctx)            -- first at the start, then when asked
    if ctx.time.hour == 1 and ctx.time.wday <= 5 then
      local id, info = client:charge_for(180, { limit = 90 })  -- a timed CFG window
      ctx.log(id and ("charging until " .. info.end_time) or tostring(info))
    end
    return ctx.seconds_until("01:00")    -- seconds to the next call; nil: never
  end,
}
