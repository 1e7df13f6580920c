-- The virtual time of the timed-action specs (spec/timed_spec.lua and
-- spec/timed_transaction_spec.lua): the simulator's clock frozen at a local
-- time of the site's zone and moved by hand, its house model started there,
-- and clients (helpers.client) whose clock is the same one. Nothing waits
-- for real.
--
--   local clock = require("helpers.site_clock").new(sim)  -- Europe/London
--   clock:start(2026, 4, 6, 23, 40, 10)   the simulator and its house at that local time
--   clock.now                             epoch seconds (a spec may move it alone)
--   clock:advance(seconds)                the simulator's clock and clock.now move on
--   clock:client(extra)                   a client on this clock (extra: more options)
local H = require("helpers.client")
local tz = require("enphase.util.tz")

local M = {}

M.ZONE = "Europe/London"

local Clock = {}
Clock.__index = Clock

--- A clock for the simulator `sim`, in the site's time zone `zone`
-- (Europe/London unless given).
function M.new(sim, zone)
  return setmetatable({ sim = sim, zone = zone or M.ZONE }, Clock)
end

--- Freezes the simulator's clock at a local time and starts its house there.
function Clock:start(y, mo, d, h, mi, s)
  self.now = tz.to_epoch(self.zone, y, mo, d, h, mi, s or 0)
  self.sim:control("POST", "/__sim/clock", { at = self.now, freeze = true })
  self.sim:control("POST", "/__sim/house", { start = self.now })
end

function Clock:advance(seconds)
  self.now = self.now + seconds
  self.sim:control("POST", "/__sim/clock", { advance = seconds })
end

--- A client of the simulator whose clock is this one; `extra` adds options.
function Clock:client(extra)
  local opts = { clock = function()
    return self.now
  end }
  for k, v in pairs(extra or {}) do
    opts[k] = v
  end
  return H.new(self.sim, opts)
end

return M
