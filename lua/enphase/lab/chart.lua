--- Charts of simulated runs with gnuplot (PNG and SVG): one panel per
-- policy with PV, load and grid power (kW), the state of charge and the
-- import price (on the right axis). Without gnuplot the rest of the run
-- stands; the caller gets a message saying what to install.
local sys = require("enphase.lab.sys")

local M = {}

-- gnuplot's string quoting: single quotes, doubled inside.
local function gp(s)
  return "'" .. tostring(s):gsub("'", "''") .. "'"
end

--- Is gnuplot on the PATH (or `program`)?
function M.available(program)
  local ok = os.execute(("command -v %s >/dev/null 2>&1"):format(sys.quote(program or "gnuplot")))
  return ok == true or ok == 0
end

--- The gnuplot script drawing `panels` ({{title=, csv=}}) into `output`
-- with `terminal` ("pngcairo"/"png" or "svg").
function M.script(panels, output, terminal)
  local height = 330 * #panels + 40
  local lines = {
    ("set terminal %s size 1400,%d %s"):format(terminal, height,
      terminal == "svg" and "dynamic background rgb 'white'" or "background rgb 'white'"),
    ("set output %s"):format(gp(output)),
    'set datafile separator ","',
    "set xdata time",
    'set timefmt "%Y-%m-%dT%H:%M"',
    'set format x "%a %H:%M"',
    "set grid xtics ytics",
    "set key outside right top",
    'set ylabel "kW"',
    'set y2label "SoC % / import price (p/kWh)"',
    "set y2range [0:100]",
    "set ytics nomirror",
    "set y2tics",
    ("set multiplot layout %d,1"):format(#panels),
  }
  for _, p in ipairs(panels) do
    local f = gp(p.csv)
    lines[#lines + 1] = ("set title %s"):format(gp(p.title))
    lines[#lines + 1] = table.concat({
      ("plot %s every ::1 using 1:($3/1000) with lines lw 1.5 lc rgb '#e69f00' title 'PV'"):format(f),
      "'' every ::1 using 1:($4/1000) with lines lw 1.2 lc rgb '#0072b2' title 'load'",
      "'' every ::1 using 1:($5/1000) with lines lw 1 lc rgb '#999999' title 'grid (+import)'",
      "'' every ::1 using 1:7 axes x1y2 with lines lw 2 lc rgb '#009e73' title 'SoC %'",
      "'' every ::1 using 1:($8*100) axes x1y2 with steps lw 1 lc rgb '#cc79a7' title 'import price'",
    }, ", \\\n  ")
  end
  lines[#lines + 1] = "unset multiplot"
  lines[#lines + 1] = "set output"
  return table.concat(lines, "\n") .. "\n"
end

--- Draws `panels` into `base`.png and `base`.svg. Returns the two paths,
-- or nil and a message (gnuplot missing or failing).
function M.draw(panels, base, program)
  program = program or "gnuplot"
  if not M.available(program) then
    return nil, "gnuplot is not installed: no chart drawn (Debian: apt-get install gnuplot-nox); "
      .. "the report and the CSV files are complete"
  end
  local outputs = {}
  for _, terminal in ipairs({ "pngcairo", "svg" }) do
    local ext = terminal == "svg" and ".svg" or ".png"
    local script_path = base .. ext .. ".gp"
    local f, err = io.open(script_path, "w")
    if not f then
      return nil, err
    end
    f:write(M.script(panels, base .. ext, terminal))
    f:close()
    local ok = os.execute(("%s %s >/dev/null 2>%s"):format(sys.quote(program),
      sys.quote(script_path), sys.quote(base .. ".gnuplot.log")))
    if not (ok == true or ok == 0) then
      local lf = io.open(base .. ".gnuplot.log")
      local why = lf and lf:read("a") or ""
      if lf then
        lf:close()
      end
      return nil, "gnuplot failed: " .. why:sub(1, 400)
    end
    os.remove(script_path)
    outputs[#outputs + 1] = base .. ext
  end
  os.remove(base .. ".gnuplot.log")
  return outputs[1], outputs[2]
end

return M
