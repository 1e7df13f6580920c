--- One policy against the simulated house, on the simulator's virtual
-- clock: the simulator is reset, its house given the series, its clock
-- frozen at the start; the policy's client has a clock that reads the
-- virtual time and a sleep that moves it, so the seed's delays cost no
-- real time and a week passes in seconds.
local compat = require("enphase.util.compat")
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

-- Buckets are fetched from the simulator once the clock has moved a day
-- past the last fetch (the house keeps 8 days), so the run holds at most a
-- day of rows whatever its length.
M.FETCH_EVERY = 86400

-- A missing number (-1 in the compact rows): no SoC without a battery, no
-- limit without a window.
local function optional(x)
  if x == -1 then
    return nil
  end
  return x
end

-- The row (lab/result.lua) of compact row `v` whose fields are at `at`.
local function bucket(v, at)
  return {
    start = v[at.start], seconds = v[at.seconds], pv_wh = v[at.pv_wh], load_wh = v[at.load_wh],
    import_wh = v[at.import_wh], export_wh = v[at.export_wh], charge_wh = v[at.charge_wh],
    discharge_wh = v[at.discharge_wh], stored_in_wh = v[at.stored_in_wh],
    stored_out_wh = v[at.stored_out_wh], loss_wh = v[at.loss_wh], cost = v[at.cost],
    import_price = v[at.import_price], export_price = v[at.export_price],
    import_price_seconds = v[at.import_price_seconds],
    export_price_seconds = v[at.export_price_seconds],
    soc_start = optional(v[at.soc_start]), soc_end = optional(v[at.soc_end]),
    reserve = v[at.reserve], very_low_soc = v[at.very_low_soc],
    reserve_seconds = v[at.reserve_seconds], cfg_seconds = v[at.cfg_seconds],
    dtg_seconds = v[at.dtg_seconds], rbd_seconds = v[at.rbd_seconds],
    profile_seconds = v[at.profile_seconds], limit = optional(v[at.limit]), mode = v[at.mode],
  }
end

--- Runs `policy` on `sim` (lab/simulator.lua). `opts`: start and finish
-- (epochs), timezone, house (the POST /__sim/house body: series as CSV
-- text, battery numbers), account (extra POST /__sim/account fields),
-- tariff/load/solar (parsed series, for ctx), forecast_error, log
-- (function(line)), rows (function(bucket) -> true | nil, message: each
-- 15-minute row in time order, see lab/result.lua). Returns `{requests=,
-- logins=, calls=, errors={...}}` or nil and a message.
function M.run(sim, policy, opts)
  local ok, result = compat.pcall(function()
    must(sim:control("POST", "/__sim/reset", {}))
    -- the lab reads no request log: a short one keeps a year's run as small as a week's
    must(sim:control("POST", "/__sim/config", { log_cap = 100 }))
    local account = { email = M.EMAIL, timezone = opts.timezone }
    must(sim:control("POST", "/__sim/account", account))
    must(sim:control("POST", "/__sim/clock", { at = opts.start, freeze = true }))
    local house = {}
    for k, v in pairs(opts.house or {}) do
      house[k] = v
    end
    house.start = opts.start
    must(sim:control("POST", "/__sim/house", house))
    local now = opts.start
    local finish = opts.finish
    local fetched = opts.start          -- rows before this were handed on
    local function fetch(upto)
      upto = upto - upto % 900
      if upto <= fetched then
        return
      end
      local h = must(sim:control("GET", ("/__sim/house?since=%d&until=%d&rows=1"):format(fetched,
        upto), nil, true))
      local at = {}
      for i, k in ipairs(h.fields) do
        at[k] = i
      end
      for _, v in ipairs(h.rows) do
        must(opts.rows(bucket(v, at)))
      end
      fetched = upto
    end
    local function advance(seconds)
      while seconds > 0 do
        local chunk = math.min(seconds, math.max(1, fetched + M.FETCH_EVERY - now))
        must(sim:control("POST", "/__sim/clock", { advance = chunk }))
        now = now + chunk
        seconds = seconds - chunk
        if now - fetched >= M.FETCH_EVERY then
          fetch(now)
        end
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
      local called_at = now
      local ctx = policy_mod.context(now, opts.timezone, opts, calls == 0)
      calls = calls + 1
      local fine, wait = policy_mod.call(policy, client, ctx)
      if not fine then
        errors[#errors + 1] = ("%s: %s"):format(os.date("!%Y-%m-%dT%H:%MZ", math.floor(now)),
          tostring(wait))
        break
      end
      if wait == nil then
        break
      end
      local werr = policy_mod.check_wait(wait)
      if werr then
        errors[#errors + 1] = werr
        break
      end
      -- the delay counts from the instant the call began (ctx.now)
      next_call = math.max(now, called_at + wait)
    end
    client:close()
    if #errors == 0 then
      advance(finish - now)
      fetch(finish)
    end
    local state = must(sim:control("GET", "/__sim/state"))
    return {
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
