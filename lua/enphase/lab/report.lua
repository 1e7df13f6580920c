--- What a simulated run comes to: the figures of the report, the table
-- comparing a policy with its baseline, and the CSV of every interval.
local tz = require("enphase.util.tz")

local M = {}

--- The figures of one run (lab/run.lua's result).
function M.figures(run)
  local f = { cost = 0, import_kwh = 0, export_kwh = 0, pv_kwh = 0, load_kwh = 0,
              stored_out_kwh = 0, loss_kwh = 0, reserve_hours = 0, solar_export_kwh = 0 }
  for _, b in ipairs(run.buckets) do
    f.cost = f.cost + b.cost
    f.import_kwh = f.import_kwh + b.import_wh / 1000
    f.export_kwh = f.export_kwh + b.export_wh / 1000
    f.pv_kwh = f.pv_kwh + b.pv_wh / 1000
    f.load_kwh = f.load_kwh + b.load_wh / 1000
    f.stored_out_kwh = f.stored_out_kwh + b.stored_out_wh / 1000
    f.loss_kwh = f.loss_kwh + b.loss_wh / 1000
    f.reserve_hours = f.reserve_hours + b.reserve_seconds / 3600
    -- PV sent to the grid: what was exported beyond the battery's share
    f.solar_export_kwh = f.solar_export_kwh + math.max(0, b.export_wh - b.discharge_wh) / 1000
  end
  local capacity = run.config and run.config.capacity_kwh or 0
  f.cycles = capacity > 0 and f.stored_out_kwh / capacity or 0
  f.self_consumption = f.pv_kwh > 0 and (f.pv_kwh - f.solar_export_kwh) / f.pv_kwh * 100 or 0
  f.requests = run.requests
  f.logins = run.logins
  f.calls = run.calls
  return f
end

M.ROWS = {
  { "cost", "energy cost", "%.2f" },
  { "import_kwh", "import kWh", "%.1f" },
  { "export_kwh", "export kWh", "%.1f" },
  { "cycles", "battery cycles", "%.2f" },
  { "self_consumption", "self-consumption %", "%.1f" },
  { "reserve_hours", "hours at reserve", "%.1f" },
  { "loss_kwh", "battery losses kWh", "%.1f" },
  { "requests", "API requests", "%d" },
  { "logins", "logins", "%d" },
  { "calls", "policy calls", "%d" },
}

local function fmt(spec, v)
  if spec == "%d" then
    return ("%d"):format(math.floor(v + 0.5))
  end
  return spec:format(v)
end

--- The report as text: one column per run (`runs` = {{label=, name=,
-- figures=}}), and the difference to the last one when there are two.
function M.text(runs, info)
  local lines = {}
  if info then
    lines[#lines + 1] = info
    lines[#lines + 1] = ""
  end
  local head = { ("%-20s"):format("") }
  for _, r in ipairs(runs) do
    head[#head + 1] = ("%18s"):format(r.label)
  end
  if #runs == 2 then
    head[#head + 1] = ("%18s"):format("difference")
  end
  lines[#lines + 1] = table.concat(head, " ")
  local names = { ("%-20s"):format("policy") }
  for _, r in ipairs(runs) do
    names[#names + 1] = ("%18s"):format(r.name:sub(1, 18))
  end
  lines[#lines + 1] = table.concat(names, " ")
  for _, row in ipairs(M.ROWS) do
    local cells = { ("%-20s"):format(row[2]) }
    for _, r in ipairs(runs) do
      cells[#cells + 1] = ("%18s"):format(fmt(row[3], r.figures[row[1]]))
    end
    if #runs == 2 then
      local d = runs[1].figures[row[1]] - runs[2].figures[row[1]]
      cells[#cells + 1] = ("%18s"):format((d >= 0 and "+" or "") .. fmt(row[3], d))
    end
    lines[#lines + 1] = table.concat(cells, " ")
  end
  return table.concat(lines, "\n")
end

M.CSV_HEADER = "time,start,pv_w,load_w,grid_w,battery_w,soc,import_price,export_price,"
  .. "pv_wh,load_wh,import_wh,export_wh,charge_wh,discharge_wh,loss_wh,cost,reserve,mode"

--- The CSV of a run: one row per interval, local time first (`zone`).
function M.csv(run, zone)
  local out = { M.CSV_HEADER }
  for _, b in ipairs(run.buckets) do
    local lt = tz.local_time(zone, b.start)
    local hours = b.seconds / 3600
    local function watts(wh)
      return hours > 0 and wh / hours or 0
    end
    out[#out + 1] = ("%04d-%02d-%02dT%02d:%02d,%d,%.0f,%.0f,%.0f,%.0f,%.2f,%.4f,%.4f,"
      .. "%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.2f,%.5f,%d,%s"):format(
      lt.year, lt.month, lt.day, lt.hour, lt.min, b.start,
      watts(b.pv_wh), watts(b.load_wh), watts(b.import_wh - b.export_wh),
      watts(b.discharge_wh - b.charge_wh), b.soc_end or 0, b.import_price, b.export_price,
      b.pv_wh, b.load_wh, b.import_wh, b.export_wh, b.charge_wh, b.discharge_wh, b.loss_wh,
      b.cost, b.reserve or 0, tostring(b.mode or ""))
  end
  return table.concat(out, "\n") .. "\n"
end

return M
