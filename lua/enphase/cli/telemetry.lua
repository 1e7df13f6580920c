--- `enphase battery` and `enphase energy`: what the battery is doing.
local command = require("enphase.cli.command")
local output = require("enphase.cli.output")

local M = {}

local function round(v, digits)
  if v == nil then
    return nil
  end
  local m = 10 ^ (digits or 1)
  return math.floor(v * m + 0.5) / m
end

local BATTERY_USAGE = [[Usage: enphase battery [--json]

Shows the state of charge, the available and total energy (kWh), the
available and maximum power (kW), and each battery's serial, charge, health,
cycle count, status and last report. Values the server reports as "N/A"
show as "-" (null in JSON).]]

M.battery = {
  summary = "show the battery state (charge, energy, power, each battery)",
  usage = BATTERY_USAGE,
  run = function(ctx)
    return command.with_client(ctx, function(client)
      local b, err, kind = client:battery()
      if not b then
        return nil, err, kind
      end
      if ctx.options.json then
        local copy = {}
        for k, v in pairs(b) do
          if k ~= "raw" then
            copy[k] = v
          end
        end
        ctx.out(output.json(copy))
        return true
      end
      if not b.has_batteries then
        ctx.out("this site reports no batteries")
        return true
      end
      ctx.out(output.fields({
        soc = round(b.soc), available_kwh = round(b.available_kwh, 2),
        capacity_kwh = round(b.capacity_kwh, 2), available_kw = round(b.available_kw, 2),
        max_kw = round(b.max_kw, 2),
      }, { { "soc", "state of charge %" }, { "available_kwh", "available kWh" },
           { "capacity_kwh", "capacity kWh" }, { "available_kw", "available kW" },
           { "max_kw", "maximum kW" } }))
      ctx.out("")
      local rows = {}
      for i, x in ipairs(b.batteries) do
        rows[i] = {
          serial = x.serial, soc = round(x.soc), health = round(x.health), cycles = x.cycles,
          state = x.state or x.status, capacity = round(x.capacity_kwh, 2),
          last = x.last_report and os.date("!%Y-%m-%d %H:%M", math.floor(x.last_report)) .. "Z",
        }
      end
      ctx.out(output.table(rows, { { "serial", "serial" }, { "soc", "charge %" },
        { "capacity", "kWh" }, { "health", "health %" }, { "cycles", "cycles" },
        { "state", "state" }, { "last", "last report" } }))
      return true
    end)
  end,
}

local ENERGY_USAGE = [[Usage: enphase energy [--json | --csv]

Today's 15-minute intervals (Wh): production, consumption, import, export,
charge, discharge, and the state of charge, with the day's totals. Intervals
marked "*" (settled=false) may still be back-filled by Enlighten.]]

local COLUMNS = { "production", "consumption", "import", "export", "charge", "discharge" }

local function clock(t)
  return t and os.date("!%H:%M", math.floor(t)) or "-"
end

M.energy = {
  summary = "show today's energy per 15 minutes (--csv for spreadsheets)",
  usage = ENERGY_USAGE,
  options = { csv = "flag" },
  run = function(ctx)
    if ctx.options.csv and ctx.options.json then
      return nil, "--json and --csv go alone, not together", "input"
    end
    return command.with_client(ctx, function(client)
      local e, err, kind = client:energy()
      if not e then
        return nil, err, kind
      end
      if ctx.options.json then
        ctx.out(output.json({ start = e.start, interval = e.interval, intervals = e.intervals,
                              totals = e.totals, soc = e.soc }))
        return true
      end
      if ctx.options.csv then
        ctx.out("start," .. table.concat(COLUMNS, ",") .. ",soc,settled")
        for _, iv in ipairs(e.intervals) do
          local cells = { iv.start and ("%d"):format(iv.start) or "" }
          for _, c in ipairs(COLUMNS) do
            cells[#cells + 1] = iv[c] and tostring(iv[c]) or ""
          end
          cells[#cells + 1] = iv.soc and tostring(iv.soc) or ""
          cells[#cells + 1] = iv.settled and "true" or "false"
          ctx.out(table.concat(cells, ","))
        end
        return true
      end
      local rows = {}
      for i, iv in ipairs(e.intervals) do
        local r = { time = clock(iv.start) .. (iv.settled and "" or "*"), soc = iv.soc }
        for _, c in ipairs(COLUMNS) do
          r[c] = iv[c]
        end
        rows[i] = r
      end
      local total = { time = "total" }
      for _, c in ipairs(COLUMNS) do
        total[c] = e.totals[c] and round(e.totals[c], 0)
      end
      rows[#rows + 1] = total
      local cols = { { "time", "UTC" } }
      for _, c in ipairs(COLUMNS) do
        cols[#cols + 1] = { c, c }
      end
      cols[#cols + 1] = { "soc", "soc %" }
      ctx.out(output.table(rows, cols))
      return true
    end)
  end,
}

return M
