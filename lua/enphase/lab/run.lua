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

--- Runs `policy` on `sim` (lab/simulator.lua). `opts`: start and finish
-- (epochs), timezone, house (the POST /__sim/house body: series as CSV
-- text, battery numbers), account (extra POST /__sim/account fields),
-- tariff/load/solar (parsed series, for ctx), forecast_error, log
-- (function(line)), rows ({label=, zone=, capacity_kwh=}: the run's rows,
-- see lab/result.lua, are made by the simulator from its house, as CSV
-- text: /__sim/rows), csv (function(text) -> true | nil, message: the CSV
-- text of the rows, in time order, the header first). Returns `{requests=,
-- logins=, calls=, errors={...}, run=, run_error=}` (run: lab/result.lua's,
-- less name and csv; nil when there are errors, or with run_error when the
-- rows are missing or truncated) or nil and a message.
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
    must(sim:control("POST", "/__sim/rows", { label = opts.rows.label, zone = opts.rows.zone,
      capacity_kwh = opts.rows.capacity_kwh, start = opts.start, finish = opts.finish }))
    local now = opts.start
    local finish = opts.finish
    local fetched = opts.start          -- rows before this were handed on
    local function fetch(upto)
      upto = upto - upto % 900
      if upto <= fetched then
        return
      end
      local path = ("/__sim/rows?until=%d"):format(upto)
      local status, text = sim:text("GET", path)
      if status ~= 200 then
        must(nil, status == 409 and text or not status and text
          or ("simulator GET %s: %s %s"):format(path, tostring(status), tostring(text):sub(1, 200)))
      end
      must(opts.csv(text))
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
    local run, run_error
    if #errors == 0 then
      local closed = must(sim:control("POST", "/__sim/rows/close", { calls = calls,
        requests = state.requests, logins = state.logins }))
      if closed.ok == true and type(closed.run) == "table" then
        run = closed.run
      else
        run_error = tostring(closed.error or "the simulator closed the rows without a run")
      end
    end
    return {
      requests = state.requests,
      logins = state.logins,
      calls = calls,
      errors = errors,
      run = run,
      run_error = run_error,
    }
  end)
  if not ok then
    return nil, type(result) == "table" and result.message or tostring(result)
  end
  return result
end

return M
