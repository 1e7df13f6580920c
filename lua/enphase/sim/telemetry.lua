-- Battery state and energy reads, served from the account's house
-- (house.lua), in the shapes of Enlighten's web API:
--   GET /pv/settings/<site>/battery_status.json
--   GET /pv/systems/<site>/today
-- Authorised by the JWT in e-auth-token or by a logged-in web session.
local http = require("enphase.sim.http")
local json = require("enphase.sim.json")
local web = require("enphase.sim.web")
local tz = require("enphase.util.tz")

local M = {}

local function authorise(sim, req, site)
  local st = sim.state
  local rec = st:jwt_lookup(req.headers["e-auth-token"])
  local acct = rec and st:account_by_user(rec.user_id)
  if not acct then
    local s = web.logged_in(st, req)
    acct = s and s.account
  end
  if not acct then
    req.note = "no valid JWT or session"
    return nil, http.json(401, { error = "Unauthorized", message = "Unauthorized" })
  end
  if site ~= string.format("%d", acct.site_id) then
    req.note = "not the user's site"
    return nil, http.json(403, { error = "Forbidden", message = "not your site" })
  end
  return acct
end

local function percent(x)
  return string.format("%d%%", math.floor(x + 0.5))
end

local function round(x, digits)
  local m = 10 ^ (digits or 2)
  return math.floor(x * m + 0.5) / m
end

function M.battery_status(sim, req, site)
  local st = sim.state
  local acct, err = authorise(sim, req, site)
  if not acct then
    return err
  end
  local house = st:house(acct)
  local cfg = house.cfg
  if cfg.capacity_kwh <= 0 then
    return http.json(200, { current_charge = "N/A", storages = json.array() })
  end
  local soc = house:soc()
  local n = cfg.batteries
  local unit = cfg.capacity_kwh / n
  local battery_kw = house.power.battery
  local led = battery_kw < -0.001 and 12 or battery_kw > 0.001 and 13 or 17
  local now = st:now_s()
  local storages = json.array()
  for i = 1, n do
    storages[i] = {
      serial_number = string.format("4823%08d", acct.site_id % 100000000 + i),
      current_charge = percent(soc),
      available_energy = round(house.energy / n),
      max_capacity = round(unit),
      available_power = round(cfg.max_discharge_kw / n),
      max_power = round(cfg.max_discharge_kw / n),
      rated_power = round(cfg.max_discharge_kw / n),
      led_status = led,
      status = "normal",
      statusText = "Normal",
      battery_mode = acct.profile.profile == "backup_only" and "Full Backup" or "Self - Consumption",
      excluded = false,
      error_code = json.null,
      error_text = json.null,
      last_report = now - now % 300,
      cycle_count = math.floor(house.discharged_kwh / cfg.capacity_kwh),
      battery_soh = "100%",
    }
  end
  local floor = math.max(acct.profile.batteryBackupPercentage or 0, acct.settings.veryLowSoc or 0)
  return http.json(200, {
    current_charge = percent(soc),
    available_energy = round(house.energy),
    max_capacity = round(cfg.capacity_kwh),
    available_power = soc > floor and cfg.max_discharge_kw or 0,
    max_power = cfg.max_discharge_kw,
    included_count = n,
    excluded_count = 0,
    storages = storages,
  })
end

-- The state of charge and the flows between sources, per interval.
local FLOWS = { "soc", "solar_home", "solar_battery", "solar_grid", "battery_home", "battery_grid",
                "grid_home", "grid_battery" }

local SERIES = {
  production = "pv_wh", consumption = "load_wh", import = "import_wh", export = "export_wh",
  charge = "charge_wh", discharge = "discharge_wh",
}

function M.today(sim, req, site)
  local st = sim.state
  local acct, err = authorise(sim, req, site)
  if not acct then
    return err
  end
  local house = st:house(acct)
  local now = st:now()
  local midnight = tz.midnight(acct.timezone, now) or now - now % 86400
  local current = now - now % 900
  local buckets = house:range(midnight, current + 900)
  local stats = { start_time = midnight, interval_length = 900, totals = {} }
  for name in pairs(SERIES) do
    stats[name] = json.array()
    stats.totals[name] = 0
  end
  for _, name in ipairs(FLOWS) do
    stats[name] = json.array()
  end
  for i, b in ipairs(buckets) do
    if b then
      for name, field in pairs(SERIES) do
        stats[name][i] = round(b[field], 0)
        stats.totals[name] = stats.totals[name] + b[field]
      end
      stats.soc[i] = b.soc_end and math.floor(b.soc_end + 0.5) or json.null
      -- where each source's energy went (a split that keeps every balance)
      local battery_grid = math.min(b.export_wh, b.discharge_wh)
      local grid_battery = math.min(b.import_wh, b.charge_wh)
      local flows = {
        battery_grid = battery_grid,
        solar_grid = b.export_wh - battery_grid,
        grid_battery = grid_battery,
        solar_battery = b.charge_wh - grid_battery,
        battery_home = b.discharge_wh - battery_grid,
        grid_home = b.import_wh - grid_battery,
      }
      flows.solar_home = math.max(0, b.pv_wh - flows.solar_grid - flows.solar_battery)
      for _, name in ipairs(FLOWS) do
        if name ~= "soc" then
          stats[name][i] = round(flows[name], 0)
          stats.totals[name] = (stats.totals[name] or 0) + flows[name]
        end
      end
    else
      for name in pairs(SERIES) do
        stats[name][i] = json.null
      end
      for _, name in ipairs(FLOWS) do
        stats[name][i] = json.null
      end
    end
  end
  for name, v in pairs(stats.totals) do
    stats.totals[name] = round(v, 0)
  end
  if st.config.shape == "captured" then
    -- as some accounts answer: no charge, discharge or export total
    stats.totals.charge, stats.totals.discharge, stats.totals.export = nil, nil, nil
  end
  local soc = house:soc()
  return http.json(200, {
    siteStatus = "normal",
    last_report_date = math.floor(now),
    stats = json.array({ stats }),
    battery_details = { aggregate_soc = soc and math.floor(soc + 0.5) or json.null },
  })
end

function M.routes(router)
  router:add("GET", "/pv/settings/([^/]+)/battery_status%.json", M.battery_status)
  router:add("GET", "/pv/systems/([^/]+)/today", M.today)
end

return M
