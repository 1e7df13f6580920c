--- Commands from MQTT: a payload on an entity's command topic, checked the
-- way the CLI checks the same input, then run through the library's own
-- operation (isValid, the seed's delay, PUT, read back).
--
-- `parse(entity, payload, known)` answers `{setting=, run=function(client)}`
-- or `nil, message` (nothing sent). `Queue` runs one write per setting at
-- a time: a command for a setting whose write is in flight waits, and a
-- newer one replaces it (the last command wins).
local validate = require("enphase.battery.validate")
local redact = require("enphase.util.redact")

local M = {}

-- "ON"/"OFF" (Home Assistant's payloads) or the CLI's "on"/"off".
local function switch_word(payload)
  if payload == "ON" or payload == "on" then
    return true
  elseif payload == "OFF" or payload == "off" then
    return false
  end
  return nil
end

local MODES = { charge_from_grid = "cfg", discharge_to_grid = "dtg", restrict_discharge = "rbd" }

--- Parses a command for entity `id` (see discovery.ENTITIES). `known` holds
-- the values last read (`known.reserve`: the current reserve, as a
-- string). Returns `{setting=, summary=, run=fn(client) -> ok, err, kind}`
-- or `nil, message`. `readback`: the entities' values once the library's
-- read-back confirmed the write.
function M.parse(id, payload, known)
  if #payload > 64 then
    return nil, ("%s: a payload of %d bytes is not a command"):format(id, #payload)
  end
  local mode = MODES[id]
  if mode or id == "storm_guard" then
    local on = switch_word(payload)
    if on == nil then
      return nil, ("%s: payload must be ON or OFF (got %s)"):format(id, redact.quote(payload))
    end
    return {
      setting = id,
      summary = ("%s %s"):format(id, on and "ON" or "OFF"),
      readback = { [id] = on and "ON" or "OFF" },
      run = function(client)
        if mode then
          return client:toggle(mode, on)
        end
        return client:set_storm_guard(on)
      end,
    }
  elseif id == "profile" then
    local name, err = validate.profile("profile", payload)
    if not name then
      return nil, err
    end
    return {
      setting = "profile", -- the profile and the reserve are one PUT
      summary = "profile " .. name,
      readback = { profile = name },
      run = function(client)
        local reserve = validate.number_word(known.reserve or "")
        if type(reserve) ~= "number" then
          local p, perr, pkind = client:profile()
          if not p then
            return nil, perr, pkind
          end
          reserve = p.reserve
        end
        return client:set_profile(name, reserve)
      end,
    }
  elseif id == "reserve" then
    local n = validate.number_word(payload) -- as `enphase reserve N` reads N
    local percent, err = validate.integer("reserve", n, 0, 100)
    if not percent then
      return nil, err
    end
    return {
      setting = "profile",
      summary = ("reserve %d"):format(percent),
      readback = { reserve = tostring(percent) },
      run = function(client)
        return client:set_reserve(percent)
      end,
    }
  elseif id == "refresh" then
    if payload ~= "PRESS" then
      return nil, ("refresh: payload must be PRESS (got %s)"):format(redact.quote(payload))
    end
    return { setting = "refresh", summary = "refresh" }
  end
  return nil, ("no command for %s"):format(redact.quote(id))
end

-- ------------------------------------------------------------ one write per setting

local Queue = {}
Queue.__index = Queue

--- A queue that starts a command with `start(command, done)` (it calls
-- `done()` when the write and its read-back are over).
function M.queue(start)
  return setmetatable({ start = start, busy = {}, waiting = {}, replaced = 0 }, Queue)
end

--- Runs `command` now, or after the write in flight for its setting; a
-- command already waiting for that setting is replaced (and counted).
function Queue:submit(command)
  local key = command.setting
  if self.busy[key] then
    if self.waiting[key] then
      self.replaced = self.replaced + 1
    end
    self.waiting[key] = command
    return "queued"
  end
  self.busy[key] = true
  self.start(command, function()
    self:finished(key)
  end)
  return "started"
end

function Queue:finished(key)
  self.busy[key] = nil
  local nxt = self.waiting[key]
  self.waiting[key] = nil
  if nxt then
    self:submit(nxt)
  end
end

--- True while a write runs or waits.
function Queue:active()
  return next(self.busy) ~= nil
end

return M
