-- Writes the bundled sample week of the simulated house (lua/enphase/sim/data/):
-- load.csv and solar.csv (mean watts per 15 minutes) and tariff.csv (a
-- time-of-use tariff, price per kWh), Monday 2026-04-06 to Sunday 2026-04-12,
-- local time (Europe/London). Deterministic: run it again, get the same files.
--
--   lua5.4 scripts/sample-week.lua lua/enphase/sim/data
local dir = arg[1] or "lua/enphase/sim/data"

local seed = 12345
local function noise() -- a small LCG, uniform in [-1, 1)
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed / 1073741824 - 1
end

-- Evening-heavy household, about 19 kWh a day (more at weekends).
local function load_watts(day, minute)
  local h = minute / 60
  local w = 260
  local weekend = day >= 6
  if h >= 6.5 and h < 8.5 and not weekend then
    w = w + 1100 * math.sin(math.pi * (h - 6.5) / 2)
  elseif h >= 8 and h < 10.5 and weekend then
    w = w + 900 * math.sin(math.pi * (h - 8) / 2.5)
  end
  if h >= 8.5 and h < 17 then
    w = w + (weekend and 520 or 160)
  end
  if h >= 17 and h < 22.5 then
    w = w + 1250 * math.sin(math.pi * (h - 17) / 5.5)
  end
  return math.max(150, 1.35 * w * (1 + 0.15 * noise()))
end

-- 3.5 kWp in April near London: sunrise 06:25, sunset 19:50 (BST); one
-- cloudiness factor per day, more scatter on the cloudy days.
local CLOUD = { 1.0, 0.55, 0.85, 0.3, 0.95, 0.7, 0.9 }
local function solar_watts(day, minute)
  local h = minute / 60
  local rise, set = 6 + 25 / 60, 19 + 50 / 60
  if h <= rise or h >= set then
    return 0
  end
  local shape = math.sin(math.pi * (h - rise) / (set - rise)) ^ 1.6
  local c = CLOUD[day]
  local scatter = 1 + (1 - c) * 0.8 * noise()
  return math.max(0, 2700 * shape * c * scatter)
end

-- Time of use: cheap night 00:00-05:00, peak 16:00-19:00, export flat
-- except a better rate at the peak.
local function tariff(minute)
  local h = minute / 60
  if h < 5 then
    return 0.075, 0.15
  elseif h >= 16 and h < 19 then
    return 0.38, 0.25
  end
  return 0.26, 0.15
end

local files = {
  load = { "time,watts" }, solar = { "time,watts" }, tariff = { "time,import,export" },
}
for day = 1, 7 do
  for minute = 0, 1440 - 15, 15 do
    local stamp = ("2026-04-%02dT%02d:%02d"):format(5 + day, minute // 60, minute % 60)
    files.load[#files.load + 1] = ("%s,%d"):format(stamp, math.floor(load_watts(day, minute) + 0.5))
    files.solar[#files.solar + 1] = ("%s,%d"):format(stamp, math.floor(solar_watts(day, minute) + 0.5))
    local imp, exp = tariff(minute)
    files.tariff[#files.tariff + 1] = ("%s,%.3f,%.3f"):format(stamp, imp, exp)
  end
end
for name, lines in pairs(files) do
  local f = assert(io.open(dir .. "/" .. name .. ".csv", "w"))
  f:write(table.concat(lines, "\n"), "\n")
  f:close()
end
