--- The report of simulated runs: a table of their figures (lab/result.lua's
-- runs), one column each, the difference between the policy and its
-- baseline, and with the optimum (lab/optimum.lua) how exact it is and the
-- share of the available saving the policy captures.

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

-- Rows that only policy runs have.
local POLICY_ONLY = { requests = true, logins = true, calls = true }

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
  local diff = #runs >= 2 and runs[2].label == "baseline"
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
      cells[#cells + 1] = ("%18s"):format(r.optimum and POLICY_ONLY[row[1]] and "-"
        or fmt(row[3], r.figures[row[1]]))
    end
    if diff then
      local d = runs[1].figures[row[1]] - runs[2].figures[row[1]]
      cells[#cells + 1] = ("%18s"):format((d >= 0 and "+" or "") .. fmt(row[3], d))
    end
    lines[#lines + 1] = table.concat(cells, " ")
  end
  for _, r in ipairs(runs) do
    if r.optimum then
      local o = r.optimum
      lines[#lines + 1] = ""
      lines[#lines + 1] = "optimum: perfect foresight through the API modes, end SoC >= start"
      lines[#lines + 1] = ("  exact within [%.3f, %.3f] (DP over SoC on a %.3f kWh grid; "
        .. "doc/optimum.md)"):format(o.lower_bound, o.cost, o.grid_kwh)
      if diff then
        local available = runs[2].figures.net_cost - r.figures.net_cost
        lines[#lines + 1] = runs[1].captures_pct
          and ("the policy captures %.0f %% of the available saving (baseline - optimum, "
            .. "cost less stored: %.2f)"):format(runs[1].captures_pct, available)
          or ("nothing to save: the optimum costs no less than the baseline (%.2f)"):format(
            available)
      end
    end
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
