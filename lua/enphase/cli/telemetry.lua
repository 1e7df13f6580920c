--- `enphase battery` and `enphase energy`: what the battery is doing.
local command = require("enphase.cli.command")
local output = require("enphase.cli.output")

local M = {}

local function round(v, digits)
  if type(v) ~= "number" or v ~= v or v == math.huge or v == -math.huge then
    return nil
  end
  local m = 10 ^ (digits or 1)
  return math.floor(v * m + 0.5) / m
end

-- `value` as one JSON line; a value JSON cannot carry is a failure, never
-- an empty output.
local function print_json(ctx, value)
  local text, err = output.json(value)
  if not text then
    return nil, "cannot print the answer as JSON: " .. tostring(err), "protocol"
  end
  ctx.out(text)
  return true
end

-- A number as a CSV cell: integral ones without a fraction, never "inf".
local function csv_number(v)
  if type(v) ~= "number" or v ~= v or v == math.huge or v == -math.huge then
    return ""
  end
  if v == math.floor(v) and math.abs(v) < 2 ^ 53 then
    return ("%.0f"):format(v)
  end
  return ("%.17g"):format(v)
end

local BATTERY_USAGE = [[Usage: enphase battery [--json]

Shows the state of charge, the available and total energy (kWh), the
available and maximum power (kW), the included and excluded battery counts,
and each battery's serial, charge, health, cycle count, status, mode, rated
power, whether it is excluded, its error (code and text) and last report.
Values the server reports as "N/A" show as "-" (null in JSON).]]

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
        return print_json(ctx, copy)
      end
      if not b.has_batteries then
        ctx.out("this site reports no batteries")
        return true
      end
      ctx.out(output.fields({
        soc = round(b.soc), available_kwh = round(b.available_kwh, 2),
        capacity_kwh = round(b.capacity_kwh, 2), available_kw = round(b.available_kw, 2),
        max_kw = round(b.max_kw, 2), included = b.included_count, excluded = b.excluded_count,
      }, { { "soc", "state of charge %" }, { "available_kwh", "available kWh" },
           { "capacity_kwh", "capacity kWh" }, { "available_kw", "available kW" },
           { "max_kw", "maximum kW" }, { "included", "batteries included" },
           { "excluded", "batteries excluded" } }))
      ctx.out("")
      local rows = {}
      for i, x in ipairs(b.batteries) do
        local error_text = (x.error_code or x.error_text)
          and table.concat({ x.error_code, x.error_text }, ": ") or nil
        rows[i] = {
          serial = x.serial, soc = round(x.soc), health = round(x.health), cycles = round(x.cycles, 0),
          state = x.state or x.status, capacity = round(x.capacity_kwh, 2),
          status = x.status_text or x.status, mode = x.mode, rated = round(x.rated_power, 2),
          excluded = x.excluded and "yes" or (x.excluded == false and "no" or nil),
          error = error_text,
          last = x.last_report and os.date("!%Y-%m-%d %H:%M", math.floor(x.last_report)) .. "Z",
        }
      end
      ctx.out(output.table(rows, { { "serial", "serial" }, { "soc", "charge %" },
        { "capacity", "kWh" }, { "health", "health %" }, { "cycles", "cycles" },
        { "state", "state" }, { "status", "status" }, { "mode", "mode" },
        { "rated", "rated power" }, { "excluded", "excluded" }, { "error", "error" },
        { "last", "last report" } }))
      return true
    end)
  end,
}

local ENERGY_USAGE = [[Usage: enphase energy [--json | --csv]

Today's 15-minute intervals (Wh): production, consumption, import, export,
charge, discharge, and the state of charge, with the day's totals as
Enlighten gives them (a total it lacks shows "-", never a sum of the
intervals); the flows between sources (solar_battery, grid_battery,
battery_grid, ...) when the answer has them. Intervals marked "*"
(settled=false) may still be back-filled by Enlighten. --csv has a column
per series and per flow (empty when missing).]]

local COLUMNS = { "production", "consumption", "import", "export", "charge", "discharge" }
local FLOWS = require("enphase.battery.telemetry").FLOWS

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
        return print_json(ctx, { start = e.start, interval = e.interval, intervals = e.intervals,
                                 totals = e.totals, missing_totals = e.missing_totals,
                                 flows = e.flows, soc = e.soc })
      end
      if ctx.options.csv then
        -- the seed's columns first (their places never change), then the flows
        ctx.out("start," .. table.concat(COLUMNS, ",") .. ",soc,settled," .. table.concat(FLOWS, ","))
        for _, iv in ipairs(e.intervals) do
          local cells = { csv_number(iv.start) }
          for _, c in ipairs(COLUMNS) do
            cells[#cells + 1] = csv_number(iv[c])
          end
          cells[#cells + 1] = csv_number(iv.soc)
          cells[#cells + 1] = iv.settled and "true" or "false"
          for _, c in ipairs(FLOWS) do
            cells[#cells + 1] = csv_number(iv[c])
          end
          ctx.out(table.concat(cells, ","))
        end
        return true
      end
      local shown = {}
      for _, c in ipairs(COLUMNS) do
        shown[#shown + 1] = c
      end
      for _, c in ipairs(e.flows or {}) do
        shown[#shown + 1] = c
      end
      local rows = {}
      for i, iv in ipairs(e.intervals) do
        local r = { time = clock(iv.start) .. (iv.settled and "" or "*"), soc = round(iv.soc, 0) }
        for _, c in ipairs(shown) do
          r[c] = round(iv[c], 0)
        end
        rows[i] = r
      end
      local total = { time = "total" }
      for _, c in ipairs(shown) do
        total[c] = round(e.totals[c], 0) -- "-" when Enlighten gives no total
      end
      rows[#rows + 1] = total
      local cols = { { "time", "UTC" } }
      for _, c in ipairs(shown) do
        cols[#cols + 1] = { c, c }
      end
      cols[#cols + 1] = { "soc", "soc %" }
      ctx.out(output.table(rows, cols))
      return true
    end)
  end,
}

return M
