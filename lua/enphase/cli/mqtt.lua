--- `enphase mqtt`: the battery as a device for home-automation engines,
-- through an MQTT broker (lua/enphase/mqtt/).
local config = require("enphase.cli.config")
local options = require("enphase.mqtt.options")

local M = {}

local USAGE = [[
Usage: enphase mqtt --broker mqtt://[USER@]HOST[:PORT] [options]

Runs until stopped: a bridge between one Enlighten account and an MQTT broker.
It publishes Home Assistant discovery configs (one device per site: switches
for charge from grid, discharge to grid, restrict discharge and Storm Guard, a
profile select, a reserve number, sensors for the state of charge, energy and
power, today's production, consumption, import and export, the next schedule,
the request budget left and the last error, and a refresh button), then the
state at each poll, and carries out the commands it receives through the same
checks, delays and read-back as the CLI.

  --broker URL        mqtt://[user@]host[:port] (port 1883) or mqtts://... (8883)
  --ca-file PEM       with mqtts://: the CA that signed the broker's certificate
  --prefix P          topics of the bridge: P/status, P/<site>/... (default enphase)
  --discovery-prefix D  where the configs go (default homeassistant)
  --poll SECONDS      seconds between polls (default 60, at least 10); lengthened
                      when the polls would take more than their budget share
  --budget-share PCT  the share of the account's request budget (ENPHASE_BUDGET,
                      all processes together) the polls may use (default 50)
  --client-id ID      the MQTT client id (default enphase-mqtt-<prefix>); the
                      broker keeps its session, so QoS 1 commands sent while the
                      bridge is away are delivered when it is back

The broker password comes from ENPHASE_MQTT_PASSWORD, in the environment or the
--config file: never from the command line. SIGTERM (or Ctrl-C) publishes
"offline" and exits 0; SIGHUP rereads the config file. Logs go to stderr
(--verbose adds the library's own lines).]]

M.mqtt = {
  summary = "run a bridge to an MQTT broker (Home Assistant discovery)",
  usage = USAGE,
  max_words = 0,
  options = { broker = "value", ["ca-file"] = "value", prefix = "value",
              ["discovery-prefix"] = "value", poll = "value", ["client-id"] = "value",
              ["budget-share"] = "value" },
  run = function(ctx)
    local getenv = ctx.getenv
    -- The broker password: the environment, then the config file (the file wins).
    local function broker_password()
      local pw = getenv("ENPHASE_MQTT_PASSWORD")
      if ctx.options.config then
        local values, err = config.read_file(ctx.options.config)
        if not values then
          return nil, err
        end
        pw = values.ENPHASE_MQTT_PASSWORD or pw
      end
      if pw == "" then
        pw = nil
      end
      return pw or false
    end
    local pw, perr = broker_password()
    if pw == nil then
      return nil, perr, "input"
    end
    local settings, err = options.check(ctx.options, pw or nil)
    if not settings then
      return nil, err, "input"
    end
    local mqtt_ok, mqtt = pcall(require, "enphase.mqtt")
    if not mqtt_ok then
      return nil, "the enphase.mqtt module (libmosquitto) is not installed: " .. tostring(mqtt),
        "input"
    end
    local client, cerr, ckind = ctx.client()
    if not client then
      return nil, cerr, ckind
    end
    local verbose = ctx.options.verbose
    local bridge = require("enphase.mqtt.bridge").new(settings, {
      mqtt = mqtt,
      client = client,
      version = require("enphase")._VERSION,
      log = function(level, line)
        if verbose or level ~= "debug" then
          ctx.err(("enphase mqtt: %s: %s"):format(level, line))
        end
      end,
      reload = function()
        local again, why = broker_password()
        if again == nil then
          return nil, why
        end
        local s2, serr = options.check(ctx.options, again or nil)
        if not s2 then
          return nil, serr
        end
        ctx.opened_client = nil -- a new client, the bridge closes the old one
        local c2, c2err = ctx.client()
        if not c2 then
          return nil, c2err
        end
        return c2, s2
      end,
    })
    local code, fatal = bridge:run()
    if code ~= 0 then
      return nil, fatal, "auth"
    end
    return true
  end,
}

return M
