--- The optimum beside a simulated run: the cheapest any policy could make
-- the same house with perfect foresight, through the battery's API modes as
-- the lab's rules model them (lua/enphase/sim/rules.lua), ending with at
-- least the stored energy it started with. The dynamic program is in C
-- (`enphase.optimum`, src/soc_dp.c); this module cuts the run into steps of
-- constant load, PV and prices (every series row and every 15 minutes),
-- and turns the plan into rows (lab/result.lua's), so the report, the CSV
-- and the charts treat the optimum as a third run. Method, grid and error
-- bound: doc/optimum.md.
local tz = require("enphase.util.tz")

local M = {}

M.BUCKET = 900
--- The lowest SoC any discharge may reach, in percent: the simulator's
-- smallest very-low SoC (`veryLowSocMin`; a reserve below it changes
-- nothing, a DTG limit is at least 6).
M.MIN_SOC = 5

-- The epoch at which series `s` moves to its next row, after epoch `t`
-- (local wall-clock seconds `wall`).
local function next_row(s, t, wall)
  local into = (wall - s.start_wall) % s.step
  return t + (s.step - into)
end

--- The steps of a run from `start` to `finish` (epochs) in `zone`:
-- `{hours=, load_kw=, pv_kw=, import=, export=, at=}` (arrays; `at` the
-- epoch each step starts). `series`: {load=, solar=, tariff=} (parsed).
function M.steps(series, zone, start, finish)
  local st = { hours = {}, load_kw = {}, pv_kw = {}, import = {}, export = {}, at = {} }
  local n = 0
  local t = start
  while t < finish do
    local wall = t + (tz.offset(zone, t) or 0)
    local cut = math.min(finish, t - t % M.BUCKET + M.BUCKET)
    for _, s in pairs(series) do
      cut = math.min(cut, next_row(s, t, wall))
    end
    local price = series.tariff:at_wall(wall)
    n = n + 1
    st.at[n] = t
    st.hours[n] = (cut - t) / 3600
    st.load_kw[n] = series.load:at_wall(wall).watts / 1000
    st.pv_kw[n] = series.solar:at_wall(wall).watts / 1000
    st.import[n], st.export[n] = price.import, price.export
    t = cut
  end
  return st
end

local function mode_of(b)
  local surplus = math.max(0, b.pv_wh - b.load_wh)
  local deficit = math.max(0, b.load_wh - b.pv_wh)
  if b.charge_wh > surplus + 0.5 then
    return "cfg"
  elseif b.discharge_wh > deficit + 0.5 then
    return "dtg"
  elseif b.charge_wh + b.discharge_wh < 0.5 and deficit > 0.5 then
    return "rbd"
  end
  return "self-consumption"
end

-- A row (lab/result.lua's fields) starting at `start`, SoC `soc`.
local function new_row(start, soc)
  return { start = start, seconds = 0, pv_wh = 0, load_wh = 0, import_wh = 0, export_wh = 0,
           charge_wh = 0, discharge_wh = 0, stored_in_wh = 0, stored_out_wh = 0, loss_wh = 0,
           cost = 0, soc_start = soc, soc_end = soc, reserve_seconds = 0, cfg_seconds = 0,
           dtg_seconds = 0, rbd_seconds = 0, profile_seconds = 0, import_price_seconds = 0,
           export_price_seconds = 0, import_paid = 0, export_paid = 0,
           reserve = M.MIN_SOC, very_low_soc = M.MIN_SOC }
end

-- The row's prices weighted by the energy that flowed (time-weighted when
-- none did), its mode and the seconds in it.
local function finish_row(b)
  b.import_price = b.import_wh > 0 and b.import_paid / b.import_wh
    or b.import_price_seconds / b.seconds
  b.export_price = b.export_wh > 0 and b.export_paid / b.export_wh
    or b.export_price_seconds / b.seconds
  b.import_paid, b.export_paid = nil, nil
  b.mode = mode_of(b)
  if b.mode == "self-consumption" then
    b.profile_seconds = b.seconds
  else
    b[b.mode .. "_seconds"] = b.seconds
  end
  return b
end

-- Hands the plan's rows (one per 15 minutes) to `emit`, in time order;
-- true, or nil and the message `emit` returned.
local function emit_rows(st, plan, battery, emit)
  local cap = battery.capacity_kwh
  local eta = math.sqrt(battery.efficiency)
  local function soc(kwh)
    return cap > 0 and kwh / cap * 100 or 0
  end
  local energy = cap * battery.initial_soc / 100
  local p = plan.steps
  local b
  for i = 1, #st.at do
    local start = st.at[i] - st.at[i] % M.BUCKET
    if b and b.start ~= start then
      local ok, err = emit(finish_row(b))
      if not ok then
        return nil, err
      end
      b = nil
    end
    b = b or new_row(start, soc(energy))
    local h = st.hours[i]
    local seconds = h * 3600
    local charge, discharge = p.charge_kwh[i], p.discharge_kwh[i]
    local import, export = p.import_kwh[i] * 1000, p.export_kwh[i] * 1000
    b.pv_wh = b.pv_wh + st.pv_kw[i] * h * 1000
    b.load_wh = b.load_wh + st.load_kw[i] * h * 1000
    b.import_wh, b.export_wh = b.import_wh + import, b.export_wh + export
    b.import_paid = b.import_paid + import * st.import[i]
    b.export_paid = b.export_paid + export * st.export[i]
    b.charge_wh = b.charge_wh + charge * 1000
    b.discharge_wh = b.discharge_wh + discharge * 1000
    b.stored_in_wh = b.stored_in_wh + charge * eta * 1000
    b.stored_out_wh = b.stored_out_wh + discharge / eta * 1000
    b.loss_wh = b.loss_wh + (charge * (1 - eta) + discharge * (1 / eta - 1)) * 1000
    b.cost = b.cost + p.cost[i]
    b.import_price_seconds = b.import_price_seconds + st.import[i] * seconds
    b.export_price_seconds = b.export_price_seconds + st.export[i] * seconds
    b.seconds = b.seconds + seconds
    energy = p.energy_kwh[i]
    b.soc_end = soc(energy)
    if cap > 0 and b.soc_end <= M.MIN_SOC + 0.1 then
      b.reserve_seconds = b.reserve_seconds + seconds
    end
  end
  if b then
    return emit(finish_row(b))
  end
  return true
end

--- The optimum of a run. `opts`: series ({load=, solar=, tariff=},
-- parsed), timezone, start and finish (epochs), battery ({capacity_kwh,
-- max_charge_kw, max_discharge_kw, efficiency, initial_soc}), min_soc
-- (percent, default M.MIN_SOC), grid (DP intervals per capacity; default:
-- chosen from the length), rows (function(row): true or nil and a message;
-- called with every 15-minute row of the plan, lab/result.lua's fields).
-- Returns `{cost=, lower_bound=, grid_kwh=, states=, steps=, seconds=}`
-- or nil and a message.
function M.run(opts)
  local core_ok, core = pcall(require, "enphase.optimum")
  if not core_ok then
    return nil, "the optimum needs the C module enphase.optimum: " .. tostring(core)
  end
  local clock = os.clock()
  local b = opts.battery
  local st = M.steps(opts.series, opts.timezone, opts.start, opts.finish)
  if #st.at == 0 then
    return nil, "the optimum: the run has no time in it"
  end
  local min_soc = math.min(opts.min_soc or M.MIN_SOC, 100)
  local plan, err = core.solve({
    hours = st.hours, load_kw = st.load_kw, pv_kw = st.pv_kw, import = st.import,
    export = st.export, capacity_kwh = b.capacity_kwh, max_charge_kw = b.max_charge_kw,
    max_discharge_kw = b.max_discharge_kw, efficiency = b.efficiency,
    initial_kwh = b.capacity_kwh * b.initial_soc / 100,
    min_kwh = b.capacity_kwh * min_soc / 100, grid = opts.grid,
  })
  if not plan then
    return nil, "the optimum: " .. tostring(err)
  end
  if opts.rows then
    local ok, rerr = emit_rows(st, plan, b, opts.rows)
    if not ok then
      return nil, rerr
    end
  end
  return {
    cost = plan.cost,
    lower_bound = plan.lower_bound,
    grid_kwh = plan.grid_kwh,
    states = plan.states,
    steps = #st.at,
    seconds = os.clock() - clock,
  }
end

--- The optimum as a third run of `enphase simulate`, written to `path`
-- (lab/result.lua's writer): the run (label "optimum", with `optimum` =
-- M.run's answer) or nil and a message. `opts` as M.run's, less `rows`,
-- plus zone.
function M.beside(opts, path)
  local result = require("enphase.lab.result")
  local writer, werr = result.writer({
    label = "optimum", name = "perfect foresight", path = path, zone = opts.timezone,
    capacity_kwh = opts.battery.capacity_kwh, start = opts.start, finish = opts.finish,
  })
  if not writer then
    return nil, werr
  end
  local o = {}
  for k, v in pairs(opts) do
    o[k] = v
  end
  o.rows = function(row)
    return writer:add(row)
  end
  local best, err = M.run(o)
  if not best then
    writer:close()
    return nil, err
  end
  local run, cerr = writer:close()
  if not run then
    return nil, cerr
  end
  run.optimum = best
  return run
end

--- M.beside from the series' files, for a child process (lab/child.lua:
-- `enphase simulate` computes the optimum beside the policy runs). `spec`:
-- files ({load=, solar=, tariff=}: CSV paths), timezone, start, finish,
-- battery. The run or nil and a message.
function M.beside_files(spec, path)
  local series = require("enphase.sim.series")
  local sys = require("enphase.lab.sys")
  local o = { series = {} }
  for k, v in pairs(spec) do
    if k ~= "files" then
      o[k] = v
    end
  end
  for kind, file in pairs(spec.files) do
    local text, err = sys.read(file)
    if not text then
      return nil, ("cannot read %s: %s"):format(file, tostring(err))
    end
    local s, perr = series.parse(text, kind, file)
    if not s then
      return nil, perr
    end
    o.series[kind] = s
  end
  return M.beside(o, path)
end

--- The share of the available saving (baseline cost minus the optimum's)
-- that `cost` reaches, in percent; nil when nothing can be saved.
function M.captured(cost, baseline_cost, optimum_cost)
  local available = baseline_cost - optimum_cost
  if available <= 1e-9 then
    return nil
  end
  return (baseline_cost - cost) / available * 100
end

return M
