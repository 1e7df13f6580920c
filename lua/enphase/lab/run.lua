--- One policy against the simulated house, on the simulator's virtual
-- clock: the simulator is reset, its house given the series, its clock
-- frozen at the start; the policy's client has a clock that reads the
-- virtual time and a sleep that moves it, so the seed's delays cost no
-- real time and a week passes in seconds.
local enphase = require("enphase")
local policy_mod = require("enphase.lab.policy")

local M = {}

M.EMAIL, M.PASSWORD = "demo@example.com", "demo-password"

local function must(v, err)
  if v == nil then
    error({ message = err }, 0)
  end
  return v
end

--- Runs `policy` on `sim` (lab/simulator.lua). `opts`: start (epoch),
-- days, timezone, house (the POST /__sim/house body: series as CSV text,
-- battery numbers), tariff (a parsed series, for ctx.price), log
-- (function(line)). Returns `{buckets=, requests=, logins=, calls=,
-- errors={...}}` or nil and a message.
function M.run(sim, policy, opts)
  local ok, result = pcall(function()
    must(sim:control("POST", "/__sim/reset", {}))
    must(sim:control("POST", "/__sim/account", { email = M.EMAIL, timezone = opts.timezone }))
    must(sim:control("POST", "/__sim/clock", { at = opts.start, freeze = true }))
    local house = {}
    for k, v in pairs(opts.house or {}) do
      house[k] = v
    end
    house.start = opts.start
    must(sim:control("POST", "/__sim/house", house))
    local now = opts.start
    local finish = opts.start + opts.days * 86400
    local function advance(seconds)
      if seconds > 0 then
        must(sim:control("POST", "/__sim/clock", { advance = seconds }))
        now = now + seconds
      end
    end
    local client = must(enphase.new({
      email = M.EMAIL, password = M.PASSWORD, base_url = sim.base_url,
      clock = function()
        return now
      end,
      sleep = advance,
      log = opts.client_log,
    }))
    local calls, errors = 0, {}
    local next_call = now
    while next_call < finish do
      advance(next_call - now)
      local ctx = policy_mod.context(now, opts.timezone, opts.tariff, opts.log, calls == 0)
      calls = calls + 1
      local fine, wait = pcall(policy.run, client, ctx)
      if not fine then
        errors[#errors + 1] = ("%s: %s"):format(os.date("!%Y-%m-%dT%H:%MZ", math.floor(now)),
          tostring(wait))
        break
      end
      if wait == nil then
        break
      end
      if type(wait) ~= "number" or wait ~= wait or wait <= 0 then
        errors[#errors + 1] = ("the policy returned %s: seconds to its next call (> 0) or nil")
          :format(tostring(wait))
        break
      end
      next_call = now + wait
    end
    client:close()
    advance(finish - now)
    local state = must(sim:control("GET", "/__sim/state"))
    local h = must(sim:control("GET", ("/__sim/house?since=%d"):format(opts.start)))
    return {
      buckets = h.buckets,
      config = h.config,
      requests = state.requests,
      logins = state.logins,
      calls = calls,
      errors = errors,
    }
  end)
  if not ok then
    return nil, type(result) == "table" and result.message or tostring(result)
  end
  return result
end

return M
