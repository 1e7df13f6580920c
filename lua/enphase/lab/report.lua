--- The report of simulated runs: a table of their figures (lab/result.lua's
-- runs), one column each, and the difference between the first two.

local M = {}

M.ROWS = {
  { "cost", "energy cost", "%.2f" },
  { "soc_end", "SoC at the end %", "%.1f" },
  { "stored_value", "stored energy value", "%.2f" },
  { "net_cost", "cost less stored", "%.2f" },
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
  if type(v) ~= "number" or v ~= v or math.abs(v) > 1e15 then
    return ("%.6g"):format(tonumber(v) or 0)
  end
  if spec == "%d" then
    return ("%d"):format(math.floor(v + 0.5))
  end
  return spec:format(v)
end

--- The report as text: one column per run (`runs`: lab/result.lua's runs,
-- {label=, name=, figures=}), and the difference between the first two.
-- `opts`: info (a first line), currency (a label for the money rows).
function M.text(runs, opts)
  opts = opts or {}
  local lines = {}
  if opts.info then
    lines[#lines + 1] = opts.info
    lines[#lines + 1] = ""
  end
  local head = { ("%-20s"):format("") }
  for _, r in ipairs(runs) do
    head[#head + 1] = ("%18s"):format(r.label)
  end
  local diff = #runs >= 2
  if diff then
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
    if diff then
      local d = runs[1].figures[row[1]] - runs[2].figures[row[1]]
      cells[#cells + 1] = ("%18s"):format((d >= 0 and "+" or "") .. fmt(row[3], d))
    end
    lines[#lines + 1] = table.concat(cells, " ")
  end
  local f = runs[1] and runs[1].figures
  if f then
    lines[#lines + 1] = ""
    lines[#lines + 1] = ("Money in %s. Stored energy value: the change in stored energy from "
      .. "start to end,"):format(opts.currency or "the tariff's currency")
    lines[#lines + 1] = ("valued at the period's mean import price (%.4f per kWh); cost less "
      .. "stored = cost - that value."):format(f.mean_import_price or 0)
  end
  return table.concat(lines, "\n")
end

return M
