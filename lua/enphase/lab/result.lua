--- A run's results: the one structure that the report, the CSV files,
-- `--json` and the charts read, whatever made the run (a policy on the
-- simulated house, its baseline, or the perfect-foresight optimum).
--
-- A run is
--
--   { label   = "policy" | "baseline" | "optimum",   -- the file names: DIR/<label>.csv
--     name    = "do nothing",                         -- the policy's name
--     csv     = "DIR/policy.csv",                     -- its rows, one per 15 minutes
--     rows    = 672,                                  -- how many
--     figures = { ... },                              -- the totals (M.figures)
--     calls, requests, logins }                       -- policy runs; 0 for the optimum
--
-- and its rows are never held in memory: a writer takes them one by one,
-- in time order, writes each as a CSV line and adds it to the totals. A
-- row is a table with these fields (energies in Wh, powers derived):
--
--   start            epoch of the row (a multiple of 900 s)
--   seconds          its length (900)
--   pv_wh load_wh import_wh export_wh      energy over the row
--   charge_wh discharge_wh                 AC into and out of the battery
--   stored_in_wh stored_out_wh loss_wh     the stored side and the losses
--   cost             import x price - export x price, summed over the row
--   import_price export_price              per kWh, weighted by the energy
--                    that flowed (time-weighted when none did), so that
--                    import_wh x import_price - export_wh x export_price = cost
--   import_price_seconds export_price_seconds   Σ price x seconds (the
--                    tariff's time-weighted mean is this / seconds: the
--                    CSV's import_price_mean and export_price_mean)
--   soc_start soc_end                      percent
--   reserve very_low_soc                   percent, in force at the row's end
--   reserve_seconds  seconds within 0.1 point of the SoC floor in force
--   cfg_seconds dtg_seconds rbd_seconds profile_seconds   seconds per mode
--   mode             the mode of most of the row: cfg, dtg, rbd or the profile
--   limit            the limit (%) of the last CFG or DTG window active in the row
--
-- Anyone making rows (lab/run.lua from the simulator's buckets, the
-- optimum from its own solution) hands them to M.writer and gets a run.
local tz = require("enphase.util.tz")
local sys = require("enphase.lab.sys")

local M = {}

M.ROW = 900

M.CSV_HEADER = "time,start,pv_w,load_w,grid_w,battery_w,soc,import_price,export_price,"
  .. "pv_wh,load_wh,import_wh,export_wh,charge_wh,discharge_wh,loss_wh,cost,reserve,mode,"
  .. "cfg_min,dtg_min,rbd_min,profile_min,limit,import_price_mean,export_price_mean"

-- "+01:00" for 3600 s east of UTC (made once per offset).
local offsets = {}
local function utc_offset(seconds)
  local text = offsets[seconds]
  if not text then
    local a = math.abs(seconds)
    text = ("%s%02d:%02d"):format(seconds < 0 and "-" or "+", math.floor(a / 3600),
      math.floor(a % 3600 / 60))
    offsets[seconds] = text
  end
  return text
end

--- The CSV line of `row` in zone `zone`: local time with its UTC offset first.
function M.csv_line(row, zone)
  local offset = tz.offset(zone, row.start) or 0
  local per_hour = row.seconds > 0 and 3600 / row.seconds or 0 -- Wh to mean W
  -- the tariff's time-weighted means: the plain average of the row's minutes
  local import_mean = row.import_price_seconds and row.seconds > 0
    and row.import_price_seconds / row.seconds or row.import_price
  local export_mean = row.export_price_seconds and row.seconds > 0
    and row.export_price_seconds / row.seconds or row.export_price
  return ("%s%s,%d,%.0f,%.0f,%.0f,%.0f,%.2f,%.4f,%.4f,"
    .. "%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.2f,%.5f,%d,%s,%.1f,%.1f,%.1f,%.1f,%s,%.5f,%.5f"):format(
    os.date("!%Y-%m-%dT%H:%M", math.floor(row.start + offset)), utc_offset(offset), row.start,
    row.pv_wh * per_hour, row.load_wh * per_hour, (row.import_wh - row.export_wh) * per_hour,
    (row.discharge_wh - row.charge_wh) * per_hour, row.soc_end or 0, row.import_price,
    row.export_price, row.pv_wh, row.load_wh, row.import_wh, row.export_wh, row.charge_wh,
    row.discharge_wh, row.loss_wh, row.cost, row.reserve or 0, tostring(row.mode or ""),
    (row.cfg_seconds or 0) / 60, (row.dtg_seconds or 0) / 60, (row.rbd_seconds or 0) / 60,
    (row.profile_seconds or 0) / 60, row.limit and ("%d"):format(row.limit) or "", import_mean,
    export_mean)
end

local Writer = {}
Writer.__index = Writer

--- A writer of one run's rows. `opts`: label, name, path (the CSV file, made
-- anew; nil: no file), lines (no file: the CSV text is kept for
-- Writer:take, as the simulator does for `enphase simulate`), zone,
-- capacity_kwh, start and finish (epochs: the rows must cover [start,
-- finish) without a gap). Returns the writer or nil and a message.
function M.writer(opts)
  local self = setmetatable({
    opts = opts, rows = 0, next_start = opts.start, buffer = {},
    t = { cost = 0, import_kwh = 0, export_kwh = 0, pv_kwh = 0, load_kwh = 0,
          stored_out_kwh = 0, loss_kwh = 0, reserve_hours = 0, solar_export_kwh = 0,
          import_cost = 0, import_price_seconds = 0, seconds = 0 },
  }, Writer)
  if opts.path then
    local f, err = sys.create(opts.path)
    if not f then
      return nil, err
    end
    self.file = f
    self.buffer[1] = M.CSV_HEADER
  elseif opts.lines then
    self.buffer[1] = M.CSV_HEADER
  end
  return self
end

--- Adds the next row; nil and a message when it does not follow the last one.
function Writer:add(row)
  if self.failed then
    return nil, self.failed
  end
  if row.start ~= self.next_start then
    self.failed = ("%s run: a row starts at %s where %s was due"):format(self.opts.label,
      os.date("!%Y-%m-%dT%H:%MZ", math.floor(row.start)),
      os.date("!%Y-%m-%dT%H:%MZ", math.floor(self.next_start)))
    return nil, self.failed
  end
  self.next_start = row.start + row.seconds
  self.rows = self.rows + 1
  if self.rows == 1 then
    self.soc_start = row.soc_start
  end
  self.soc_end = row.soc_end
  local t = self.t
  t.cost = t.cost + row.cost
  t.import_kwh = t.import_kwh + row.import_wh / 1000
  t.export_kwh = t.export_kwh + row.export_wh / 1000
  t.pv_kwh = t.pv_kwh + row.pv_wh / 1000
  t.load_kwh = t.load_kwh + row.load_wh / 1000
  t.stored_out_kwh = t.stored_out_kwh + row.stored_out_wh / 1000
  t.loss_kwh = t.loss_kwh + row.loss_wh / 1000
  t.reserve_hours = t.reserve_hours + row.reserve_seconds / 3600
  -- PV sent to the grid: what was exported beyond the battery's share
  t.solar_export_kwh = t.solar_export_kwh + math.max(0, row.export_wh - row.discharge_wh) / 1000
  t.import_price_seconds = t.import_price_seconds + (row.import_price_seconds
    or row.import_price * row.seconds)
  t.seconds = t.seconds + row.seconds
  if self.file then
    local buf = self.buffer
    buf[#buf + 1] = M.csv_line(row, self.opts.zone)
    if #buf >= 96 then
      return self:flush()
    end
  elseif self.opts.lines then
    local buf = self.buffer
    buf[#buf + 1] = M.csv_line(row, self.opts.zone)
  end
  return true
end

--- The CSV text of the rows added since the last take (the header first),
-- each line ending in a newline; "" when there is none (opts.lines).
function Writer:take()
  local buf = self.buffer
  if #buf == 0 then
    return ""
  end
  self.buffer = {}
  buf[#buf + 1] = ""
  return table.concat(buf, "\n")
end

-- Writes the buffered lines; true, or nil and a message.
function Writer:flush()
  local buf = self.buffer
  if self.file and #buf > 0 then
    buf[#buf + 1] = ""
    local ok, err = self.file:write(table.concat(buf, "\n"))
    self.buffer = {}
    if not ok then
      self.failed = ("%s run: %s: %s"):format(self.opts.label, self.opts.path, tostring(err))
      return nil, self.failed
    end
  end
  return true
end

--- The totals of a run from its accumulated sums `t` (see Writer:close).
function M.figures(t, capacity, soc_start, soc_end)
  local f = {}
  for k, v in pairs(t) do
    f[k] = v
  end
  f.cycles = capacity > 0 and f.stored_out_kwh / capacity or 0
  f.self_consumption = f.pv_kwh > 0 and (f.pv_kwh - f.solar_export_kwh) / f.pv_kwh * 100 or 0
  f.soc_start, f.soc_end = soc_start or 0, soc_end or 0
  -- the stored energy gained (or lost) over the run, valued at the mean
  -- import price of the period (the tariff's, time-weighted)
  f.mean_import_price = f.seconds > 0 and f.import_price_seconds / f.seconds or 0
  f.stored_change_kwh = (f.soc_end - f.soc_start) / 100 * capacity
  f.stored_value = f.stored_change_kwh * f.mean_import_price
  f.net_cost = f.cost - f.stored_value
  f.import_price_seconds, f.import_cost = nil, nil
  return f
end

--- Ends the run: the run (see the top of this file) or nil and a message
-- when its rows are missing, truncated or cut by a gap.
function Writer:close(extra)
  if self.file then
    self:flush()
    self.file:close()
    self.file = nil
  end
  local o = self.opts
  if self.failed then
    return nil, self.failed
  end
  if self.rows == 0 then
    return nil, ("%s run: no rows"):format(o.label)
  end
  if o.finish and self.next_start ~= o.finish then
    return nil, ("%s run: truncated: the rows end at %s, not at %s"):format(o.label,
      os.date("!%Y-%m-%dT%H:%MZ", math.floor(self.next_start)),
      os.date("!%Y-%m-%dT%H:%MZ", math.floor(o.finish)))
  end
  local run = { label = o.label, name = o.name, csv = o.path, rows = self.rows,
                figures = M.figures(self.t, o.capacity_kwh or 0, self.soc_start, self.soc_end),
                calls = 0, requests = 0, logins = 0 }
  for k, v in pairs(extra or {}) do
    run[k] = v
  end
  run.figures.calls, run.figures.requests, run.figures.logins = run.calls, run.requests,
    run.logins
  return run
end

return M
