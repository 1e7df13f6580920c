--- Charts of simulated runs with gnuplot (PNG and SVG), one figure:
--   * the import and export prices (auto-scaled, negatives included, in the
--     run's currency label);
--   * one panel per run (policy, baseline, optimum) on one shared kW scale:
--     PV, load, grid (+ import) and battery power (+ out of the battery),
--     the modes shaded (CFG, DTG, RBD), and on the right axis the SoC with
--     the reserve and the active window's limit;
--   * the cumulative cost of every run.
-- The x axis is time itself (UTC epoch seconds, so a day the clocks go
-- back draws 25 hours side by side and one they go forward 23), labelled
-- in the site's local wall-clock time with dates, the year and the zone:
-- ticks at local times every few hours on a short run, at local midnights
-- every day or few days on a long one. The panels read the runs' CSV files
-- by column name. Without
-- gnuplot the rest of the run stands; the caller gets a message saying
-- what to install.
local compat = require("enphase.util.compat")
local sys = require("enphase.lab.sys")
local tz = require("enphase.util.tz")

local M = {}

local BUCKET = 900

-- gnuplot's string quoting: single quotes, doubled inside.
local function gp(s)
  return "'" .. tostring(s):gsub("'", "''") .. "'"
end

-- gnuplot's double-quoted string (a newline as \n).
local function gpd(s)
  return '"' .. tostring(s):gsub('[\\"]', "\\%0"):gsub("\n", "\\n") .. '"'
end

--- Is gnuplot on the PATH (or `program`)?
function M.available(program)
  local ok = compat.execute(("command -v %s >/dev/null 2>&1"):format(sys.quote(program or "gnuplot")))
  return ok == true or ok == 0
end

local function split(line)
  local out = {}
  for field in (line .. ","):gmatch("([^,]*),") do
    out[#out + 1] = field
  end
  return out
end

-- A long run is drawn from points of several rows each: no more than
-- MAX_POINTS a panel (a person reads no more, and gnuplot takes seconds per
-- ten thousand), with rows per point one of GROUPS (15 minutes to a day).
M.MAX_POINTS = 800
local GROUPS = { 1, 2, 4, 8, 12, 24, 48, 96 }

--- The rows each point of the chart stands for, for a run of `rows` rows.
function M.rows_per_point(rows)
  for _, g in ipairs(GROUPS) do
    if rows <= g * M.MAX_POINTS then
      return g
    end
  end
  return GROUPS[#GROUPS]
end

-- Writes a point (one row, or the rows of a group) to `out`; widens the
-- ranges in `r`.
local function write_point(out, r, x, pv, load, grid, battery, soc, import, export, mode,
                           reserve, limit, cost)
  r.kw_min = math.min(r.kw_min, pv, load, grid, battery)
  r.kw_max = math.max(r.kw_max, pv, load, grid, battery)
  r.price_min = math.min(r.price_min, import, export)
  r.price_max = math.max(r.price_max, import, export)
  r.cost_min, r.cost_max = math.min(r.cost_min, cost), math.max(r.cost_max, cost)
  out:write(("%d %.3f %.3f %.3f %.3f %.2f %.5f %.5f %d %d %d %s %s %.5f\n"):format(
    x, pv, load, grid, battery, soc, import, export,
    mode == "cfg" and 1 or 0, mode == "dtg" and 1 or 0, mode == "rbd" and 1 or 0,
    reserve and ("%.1f"):format(reserve) or "NaN", limit and ("%.1f"):format(limit) or "NaN",
    cost))
end

-- Points of `per_point` rows: the means of the powers and prices, the SoC,
-- reserve, limit and cumulative cost at the last row, the mode of most
-- rows, at the first row's time. Rows go together while their local time
-- falls in the same span of `per_point` x 15 minutes (groups start at local
-- hours and midnights). Returns add(x, local_x, pv, load, grid, battery,
-- soc, import, export, mode, reserve, limit, cost) and flush().
local function grouper(out, r, per_point)
  if per_point == 1 then
    return function(x, _, ...)
      write_point(out, r, x, ...)
    end, function() end
  end
  local width = per_point * BUCKET
  local key, x0, n, pv_sum, load_sum, grid_sum, battery_sum, import_sum, export_sum
  local modes, soc_last, reserve_last, limit_last, cost_last
  local function flush()
    if key then
      local mode, most = "", 0
      for m, count in pairs(modes) do
        if count > most or (count == most and m < mode) then
          mode, most = m, count
        end
      end
      write_point(out, r, x0, pv_sum / n, load_sum / n, grid_sum / n, battery_sum / n, soc_last,
        import_sum / n, export_sum / n, mode, reserve_last, limit_last, cost_last)
      key = nil
    end
  end
  local function add(x, local_x, pv, load, grid, battery, soc, import, export, mode, reserve,
                     limit, cost)
    local k = math.floor(local_x / width)
    if key ~= k then
      flush()
      key, x0, n, modes, limit_last = k, x, 0, {}, nil
      pv_sum, load_sum, grid_sum, battery_sum, import_sum, export_sum = 0, 0, 0, 0, 0, 0
    end
    n = n + 1
    pv_sum, load_sum = pv_sum + pv, load_sum + load
    grid_sum, battery_sum = grid_sum + grid, battery_sum + battery
    import_sum, export_sum = import_sum + import, export_sum + export
    modes[mode] = (modes[mode] or 0) + 1
    soc_last, reserve_last, cost_last = soc, reserve, cost
    limit_last = limit or limit_last
  end
  return add, flush
end

-- The columns the chart reads.
local WANTED = { time = true, start = true, pv_w = true, load_w = true, grid_w = true,
                 battery_w = true, soc = true, import_price = true, export_price = true,
                 cost = true, mode = true, reserve = true, limit = true }

-- The rows of a run's CSV at `path` turned into the chart's columns
-- (`per_point` rows a point, grouped by the local time of `zone`), written
-- to `dat`; widens the ranges in `r`. Returns true or nil and a message.
local function convert(path, dat, r, per_point, zone)
  local src, err = io.open(path, "rb")
  if not src then
    return nil, ("cannot read %s: %s"):format(path, tostring(err))
  end
  local out, werr = sys.create(dat)
  if not out then
    src:close()
    return nil, werr
  end
  per_point = per_point or 1
  local add, flush = grouper(out, r, per_point)
  local pattern, at -- the header's: one match gives a line's columns
  local cost = 0
  local min, max = math.min, math.max
  local function num(v) -- nil for a missing column
    return v and tonumber(v)
  end
  for line in src:lines() do
    if not pattern then
      at = {}
      local parts, n = {}, 0
      for i, name in ipairs(split(line)) do
        if WANTED[name] and not at[name] then
          n = n + 1
          at[name] = n
          parts[i] = "([^,]*)"
        else
          parts[i] = "[^,]*"
        end
      end
      pattern = "^" .. table.concat(parts, ",")
    else
      local f = { line:match(pattern) }
      local start = num(f[at.start])
      if start then
        local x = start -- UTC: strictly increasing through a clock change
        local local_x = x
        if per_point > 1 then
          -- the local time: the offset the time column gives, else the zone's
          local sign, hh, mm = (f[at.time] or ""):match("([+-])(%d%d):(%d%d)$")
          local_x = x + (sign and (sign == "-" and -1 or 1) * (tonumber(hh) * 3600
            + tonumber(mm) * 60) or tz.offset(zone or "UTC", start) or 0)
        end
        cost = cost + (num(f[at.cost]) or 0)
        r.x_min, r.x_max = min(r.x_min, x), max(r.x_max, x + BUCKET)
        add(x, local_x, (num(f[at.pv_w]) or 0) / 1000, (num(f[at.load_w]) or 0) / 1000,
          (num(f[at.grid_w]) or 0) / 1000, (num(f[at.battery_w]) or 0) / 1000,
          num(f[at.soc]) or 0, num(f[at.import_price]) or 0, num(f[at.export_price]) or 0,
          f[at.mode] or "", num(f[at.reserve]), num(f[at.limit]), cost)
      end
    end
  end
  flush()
  src:close()
  out:close()
  return true
end

-- The rows of the CSV file at `path` (its lines less the header), or 0.
local function count_rows(path)
  local text = sys.read(path)
  if not text then
    return 0
  end
  local _, lines = text:gsub("\n", "\n")
  return math.max(0, lines - 1)
end

-- Tick spacing (local hours, or local days) and label format for a run of `days`.
local function ticks(days)
  if days <= 2 then
    return { hours = 6 }, "%a %d %b\n%H:%M"
  elseif days <= 10 then
    return { days = 1 }, "%a %d %b"
  end
  return { days = math.ceil(days / 12) }, "%d %b"
end

-- "YYYY-MM-DD HH:MM" (or `fmt`) of epoch `t` on the local clock of `zone`.
local function local_text(zone, t, fmt)
  return os.date("!" .. (fmt or "%Y-%m-%d %H:%M"), math.floor(t + (tz.offset(zone, t) or 0)))
end

--- The x axis's ticks from epoch `first` to `last` in `zone`: a list of
-- `{at=epoch, label=, minor=true|nil}` at local wall-clock times (every
-- 6 local hours up to 2 days, local midnights beyond; a minor tick halfway
-- on the local clock), so a day the clocks go back is 25 hours wide.
function M.ticks(zone, first, last)
  local step, fmt = ticks(math.floor((last - first) / 86400 + 0.5)) -- local days
  local lt = assert(tz.local_time(zone, first))
  local out = {}
  local function add(at, minor)
    if at >= first and at <= last then
      out[#out + 1] = { at = at, label = not minor and local_text(zone, at, fmt) or nil,
                        minor = minor or nil }
    end
  end
  local function at_local(day, hour)
    return tz.to_epoch(zone, lt.year, lt.month, lt.day + day, hour, 0, 0)
  end
  if step.hours then
    for day = 0, math.ceil((last - first) / 86400) + 1 do
      for hour = 0, 23, step.hours do
        add(at_local(day, hour))
        add(at_local(day, hour + step.hours / 2), true)
      end
    end
  else
    for day = 0, math.ceil((last - first) / 86400) + 1, step.days do
      add(at_local(day, 0))
      add(step.days > 1 and at_local(day + math.floor(step.days / 2), 0)
        or at_local(day, 12), true)
    end
  end
  table.sort(out, function(a, b) return a.at < b.at end)
  return out
end

local function padded(lo, hi, with_zero)
  if with_zero then
    lo, hi = math.min(lo, 0), math.max(hi, 0)
  end
  if hi - lo < 1e-9 then
    lo, hi = lo - 1, hi + 1
  end
  local pad = (hi - lo) * 0.06
  return lo - pad, hi + pad
end

local COLORS = { policy = "#0072b2", baseline = "#999999", optimum = "#009e73" }

--- The gnuplot script drawing `panels` ({{title=, label=, dat=}}) with the
-- ranges `r` into `output` with `terminal` ("pngcairo" or "svg").
-- `opts`: timezone, currency (a label).
function M.script(panels, r, output, terminal, opts)
  local zone = opts.timezone or "UTC"
  local currency = opts.currency or "currency"
  local rows = #panels + 2
  local height = 250 * rows + 60
  local first = local_text(zone, r.x_min)
  local last = local_text(zone, r.x_max)
  local tics = {}
  local two_lines = false
  for _, t in ipairs(M.ticks(zone, r.x_min, r.x_max)) do
    two_lines = two_lines or (t.label or ""):find("\n") ~= nil
    tics[#tics + 1] = t.minor and ('"" %d 1'):format(t.at) or ("%s %d"):format(gpd(t.label), t.at)
  end
  local kw_lo, kw_hi = padded(r.kw_min, r.kw_max, true)
  local p_lo, p_hi = padded(r.price_min, r.price_max, true)
  local c_lo, c_hi = padded(r.cost_min, r.cost_max, true)
  -- in pixels: 33 above the first title, 16 for a title, 80 below a panel
  -- for its tick labels (two lines on a short run) and the next title
  local top, bottom = 1 - 33 / height, 42 / height
  local band = (top - bottom) / rows
  local width = r.width or BUCKET -- seconds a point stands for
  local lines = {
    ("set terminal %s size 1400,%d %s"):format(terminal, height,
      terminal == "svg" and "dynamic background rgb 'white'" or "background rgb 'white'"),
    ("set output %s"):format(gp(output)),
    -- x: UTC epoch seconds; the labels: local wall-clock times
    ("set xtics (%s)"):format(table.concat(tics, ", ")),
    ("set xrange [%d:%d]"):format(math.floor(r.x_min), math.ceil(r.x_max)),
    "set grid xtics ytics",
    "set xzeroaxis lt -1 lw 0.5",
    "set key vertical Left reverse samplen 2 spacing 0.9 font ',9'",
    "set lmargin at screen 0.07",
    "set rmargin at screen 0.83",
    "set style fill transparent solid 0.18 noborder",
    "set multiplot",
  }
  local function frame(i)
    local upper = top - (i - 1) * band - 16 / height
    lines[#lines + 1] = ("set tmargin at screen %.4f"):format(upper)
    lines[#lines + 1] = ("set bmargin at screen %.4f"):format(top - i * band + 80 / height)
    lines[#lines + 1] = ("set key at screen 0.885,%.4f left top"):format(upper)
  end
  -- prices
  frame(1)
  lines[#lines + 1] = ("set title %s"):format(gp(("prices, %s to %s local time (%s)"):format(first,
    last, zone)))
  lines[#lines + 1] = ("set ylabel %s"):format(gp(currency .. " per kWh"))
  lines[#lines + 1] = ("set yrange [%.5f:%.5f]"):format(p_lo, p_hi)
  lines[#lines + 1] = "unset y2tics; unset y2label; set ytics nomirror"
  lines[#lines + 1] = ("plot %s using 1:7 with steps lw 1.5 lc rgb '#cc79a7' title 'import', "
    .. "'' using 1:8 with steps lw 1.5 lc rgb '#e69f00' title 'export'"):format(gp(panels[1].dat))
  -- one panel per run
  for i, p in ipairs(panels) do
    frame(i + 1)
    local f = gp(p.dat)
    lines[#lines + 1] = ("set title %s"):format(gp(p.title))
    lines[#lines + 1] = 'set ylabel "kW"'
    lines[#lines + 1] = ("set yrange [%.3f:%.3f]"):format(kw_lo, kw_hi)
    lines[#lines + 1] = 'set y2label "SoC %"'
    lines[#lines + 1] = "set y2range [0:100]"
    lines[#lines + 1] = "set y2tics 20"
    local shade = "using 1:(%.3f):1:($1+%d):(%.3f):($%d>0?%.3f:%.3f) axes x1y1 with boxxyerror "
      .. "fs transparent solid 0.15 noborder lc rgb '%s' title '%s'"
    lines[#lines + 1] = table.concat({
      ("plot %s " .. shade):format(f, kw_lo, width, kw_lo, 9, kw_hi, kw_lo, "#009e73", "CFG"),
      ("'' " .. shade):format(kw_lo, width, kw_lo, 10, kw_hi, kw_lo, "#d55e00", "DTG"),
      ("'' " .. shade):format(kw_lo, width, kw_lo, 11, kw_hi, kw_lo, "#888888", "RBD"),
      "'' using 1:5 with filledcurves y=0 fs transparent solid 0.35 lc rgb '#d55e00' "
        .. "title 'battery kW (+out)'",
      "'' using 1:2 with lines lw 1.3 lc rgb '#e69f00' title 'PV kW'",
      "'' using 1:3 with lines lw 1.1 lc rgb '#0072b2' title 'load kW'",
      "'' using 1:4 with lines lw 0.8 lc rgb '#555555' title 'grid kW (+import)'",
      "'' using 1:6 axes x1y2 with lines lw 2 lc rgb '#009e73' title 'SoC %'",
      "'' using 1:12 axes x1y2 with steps lw 1.2 dt 2 lc rgb '#000000' title 'reserve %'",
      "'' using 1:13 axes x1y2 with points pt 7 ps 0.3 lc rgb '#cc0000' title 'window limit %'",
    }, ", \\\n  ")
  end
  -- cumulative cost
  frame(rows)
  lines[#lines + 1] = "unset y2tics; unset y2label"
  lines[#lines + 1] = ("set title %s"):format(gp("cumulative energy cost"))
  lines[#lines + 1] = ("set ylabel %s"):format(gp(currency))
  lines[#lines + 1] = ("set yrange [%.4f:%.4f]"):format(c_lo, c_hi)
  lines[#lines + 1] = ("set xlabel %s%s"):format(gp(("local time, %s, %s"):format(zone,
    first:sub(1, 4) == last:sub(1, 4) and first:sub(1, 4) or (first:sub(1, 4) .. "-" .. last:sub(1, 4)))),
    two_lines and " offset 0,-1" or "")
  local costs = {}
  for i, p in ipairs(panels) do
    costs[#costs + 1] = ("%s using 1:14 with lines lw 2 lc rgb '%s' title %s"):format(
      i == 1 and gp(p.dat) or gp(p.dat), COLORS[p.label] or "#000000", gp(p.label))
  end
  lines[#lines + 1] = "plot " .. table.concat(costs, ", \\\n  ")
  lines[#lines + 1] = "unset multiplot"
  lines[#lines + 1] = "set output"
  return table.concat(lines, "\n") .. "\n"
end

--- Draws `panels` ({{title=, csv=, label=}}) into `base`.png and
-- `base`.svg. `opts`: timezone (the site's, for the x axis), currency (the
-- price label). Returns the two paths, or nil and a message (gnuplot
-- missing or failing, a CSV unreadable).
function M.draw(panels, base, program, opts)
  program = program or "gnuplot"
  opts = opts or {}
  if not M.available(program) then
    return nil, "gnuplot is not installed: no chart drawn (Debian: apt-get install gnuplot-nox); "
      .. "the report and the CSV files are complete"
  end
  local r = { kw_min = 0, kw_max = 0, price_min = math.huge, price_max = -math.huge,
              cost_min = 0, cost_max = 0, x_min = math.huge, x_max = -math.huge }
  local data = {}
  local rows = 0
  for _, p in ipairs(panels) do
    rows = math.max(rows, count_rows(p.csv))
  end
  local per_point = M.rows_per_point(rows)
  r.width = per_point * BUCKET
  local function clean()
    for _, p in ipairs(data) do
      os.remove(p.dat)
    end
  end
  for i, p in ipairs(panels) do
    local d = { title = p.title, label = p.label or ("run " .. i), dat = ("%s.%d.dat"):format(base, i) }
    data[i] = d
    local ok, err = convert(p.csv, d.dat, r, per_point, opts.timezone)
    if not ok then
      clean()
      return nil, err
    end
  end
  if r.x_min == math.huge then
    clean()
    return nil, "no rows to draw"
  end
  local outputs, scripts = {}, {}
  local log = base .. ".gnuplot.log"
  for _, terminal in ipairs({ "pngcairo", "svg" }) do
    local ext = terminal == "svg" and ".svg" or ".png"
    local script_path = base .. ext .. ".gp"
    local ok, err = sys.write(script_path, M.script(data, r, base .. ext, terminal, opts))
    -- gnuplot and the shell open these themselves: made here first, anew,
    -- so that none of them is a link planted in the folder
    for _, path in ipairs({ base .. ext, log }) do
      local f = ok and sys.create(path)
      if f then
        f:close()
      end
    end
    if not ok then
      clean()
      return nil, err
    end
    scripts[#scripts + 1] = script_path
    outputs[#outputs + 1] = base .. ext
  end
  -- the PNG and the SVG drawn side by side (two cores), both must succeed
  local gnuplot = sys.quote(program)
  local ran = compat.execute(("%s %s >/dev/null 2>>%s & p=$!; %s %s >/dev/null 2>>%s; b=$?; "
    .. "wait $p && [ $b -eq 0 ]"):format(gnuplot, sys.quote(scripts[1]), sys.quote(log), gnuplot,
    sys.quote(scripts[2]), sys.quote(log)))
  if not (ran == true or ran == 0) then
    local why = sys.read(log) or ""
    clean()
    return nil, "gnuplot failed: " .. why:sub(1, 400)
  end
  for _, path in ipairs(scripts) do
    os.remove(path)
  end
  os.remove(base .. ".gnuplot.log")
  clean()
  return outputs[1], outputs[2]
end

return M
