--- The entities of one site and their Home Assistant discovery configs
-- (the convention Home Assistant, openHAB, Domoticz's MQTT Auto Discovery
-- gateway, ioBroker and Node-RED's discovery nodes all read).
--
-- Topics, for `prefix` P and site S:
--   P/status                  the bridge: "online" / "offline" (retained,
--                             the last will)
--   P/S/enlighten             Enlighten reachable: "online" / "offline"
--   P/S/<entity>              the state (retained)
--   P/S/<entity>/set          commands (switches, select, number)
--   P/S/refresh/press         the refresh button
--   P/S/last_error/attributes the last error as JSON {kind, message, at}
-- and the configs under `<discovery>/<component>/enphase_S/<entity>/config`.
local json = require("enphase.util.json")

local M = {}

M.PROFILES = { "self-consumption", "cost_savings", "backup_only", "ai_optimisation" }

local ON_OFF = { payload_on = "ON", payload_off = "OFF", state_on = "ON", state_off = "OFF" }

--- The entities, in publishing order. `bridge_only`: available while the
-- bridge runs, even when Enlighten is not (the diagnostics and refresh).
M.ENTITIES = {
  { id = "charge_from_grid", component = "switch", name = "Charge from grid", command = "cfg",
    icon = "mdi:transmission-tower-import", extra = ON_OFF },
  { id = "discharge_to_grid", component = "switch", name = "Discharge to grid", command = "dtg",
    icon = "mdi:transmission-tower-export", extra = ON_OFF },
  { id = "restrict_discharge", component = "switch", name = "Restrict battery discharge",
    command = "rbd", icon = "mdi:battery-lock", extra = ON_OFF },
  { id = "storm_guard", component = "switch", name = "Storm Guard", command = "storm_guard",
    icon = "mdi:weather-lightning", extra = ON_OFF },
  { id = "profile", component = "select", name = "Profile", command = "profile",
    icon = "mdi:battery-sync", extra = { options = M.PROFILES } },
  { id = "reserve", component = "number", name = "Backup reserve", command = "reserve",
    icon = "mdi:battery-arrow-down", extra = { min = 0, max = 100, step = 1, mode = "box",
      unit_of_measurement = "%" } },
  { id = "soc", component = "sensor", name = "State of charge",
    extra = { device_class = "battery", unit_of_measurement = "%", state_class = "measurement" } },
  { id = "available_energy", component = "sensor", name = "Available energy",
    extra = { device_class = "energy_storage", unit_of_measurement = "kWh",
      state_class = "measurement" } },
  { id = "battery_power", component = "sensor", name = "Battery power",
    extra = { device_class = "power", unit_of_measurement = "W", state_class = "measurement" } },
  { id = "production_today", component = "sensor", name = "Production today",
    extra = { device_class = "energy", unit_of_measurement = "kWh",
      state_class = "total_increasing" } },
  { id = "consumption_today", component = "sensor", name = "Consumption today",
    extra = { device_class = "energy", unit_of_measurement = "kWh",
      state_class = "total_increasing" } },
  { id = "import_today", component = "sensor", name = "Grid import today",
    extra = { device_class = "energy", unit_of_measurement = "kWh",
      state_class = "total_increasing" } },
  { id = "export_today", component = "sensor", name = "Grid export today",
    extra = { device_class = "energy", unit_of_measurement = "kWh",
      state_class = "total_increasing" } },
  { id = "next_schedule", component = "sensor", name = "Next schedule",
    icon = "mdi:calendar-clock" },
  { id = "budget_left", component = "sensor", name = "Request budget left", bridge_only = true,
    icon = "mdi:counter", extra = { entity_category = "diagnostic",
      unit_of_measurement = "requests", state_class = "measurement" } },
  { id = "last_error", component = "sensor", name = "Last error", bridge_only = true,
    icon = "mdi:alert-circle-outline", attributes = true,
    extra = { entity_category = "diagnostic" } },
  { id = "refresh", component = "button", name = "Refresh", bridge_only = true,
    icon = "mdi:refresh", extra = { payload_press = "PRESS", entity_category = "diagnostic" } },
}

--- The entity called `id`, or nil.
function M.entity(id)
  for _, e in ipairs(M.ENTITIES) do
    if e.id == id then
      return e
    end
  end
  return nil
end

--- The topics of a bridge (`settings`: prefix, discovery_prefix) for site
-- `site_id`.
function M.topics(settings, site_id)
  local base = ("%s/%d"):format(settings.prefix, site_id)
  return {
    status = settings.prefix .. "/status",
    enlighten = base .. "/enlighten",
    base = base,
    node = ("enphase_%d"):format(site_id),
    state = function(id)
      return base .. "/" .. id
    end,
    command = function(id)
      return base .. "/" .. id .. (id == "refresh" and "/press" or "/set")
    end,
    attributes = function(id)
      return base .. "/" .. id .. "/attributes"
    end,
    config = function(e)
      return ("%s/%s/enphase_%d/%s/config"):format(settings.discovery_prefix, e.component,
        site_id, e.id)
    end,
    birth = settings.discovery_prefix .. "/status",
  }
end

--- The discovery messages: a list of `{topic=, payload=}`, each retained.
-- `version`: the bridge's software version for the device.
function M.messages(settings, site_id, version)
  local t = M.topics(settings, site_id)
  local device = {
    identifiers = { t.node },
    name = ("Enphase site %d"):format(site_id),
    manufacturer = "Enphase Energy",
    model = "IQ Battery (Enlighten cloud)",
    sw_version = version,
  }
  local out = {}
  for _, e in ipairs(M.ENTITIES) do
    local c = {
      name = e.name,
      unique_id = ("%s_%s"):format(t.node, e.id),
      object_id = ("%s_%s"):format(t.node, e.id),
      device = device,
      icon = e.icon,
      origin = { name = "lua-enphase", sw_version = version },
      availability_mode = e.bridge_only and "latest" or "all",
      availability = { { topic = t.status } },
      qos = 1,
    }
    if not e.bridge_only then
      c.availability[2] = { topic = t.enlighten }
    end
    if e.component ~= "button" then
      c.state_topic = t.state(e.id)
    end
    if e.command or e.component == "button" then
      c.command_topic = t.command(e.id)
    end
    if e.attributes then
      c.json_attributes_topic = t.attributes(e.id)
    end
    for k, v in pairs(e.extra or {}) do
      c[k] = v
    end
    out[#out + 1] = { topic = t.config(e), payload = json.encode(c) }
  end
  return out
end

return M
