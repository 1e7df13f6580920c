-- dzVents script: three Domoticz switches for an Enphase IQ Battery's charge
-- from grid (CFG), discharge to grid (DTG) and restrict battery discharge
-- (RBD), and a Text device with the battery's state (charge, settings,
-- reserve, next schedule), through lua-enphase's
-- `enphase` command. Copy it into Domoticz's scripts/dzVents/scripts/ folder
-- (README: "Domoticz").
--
-- Every Enlighten call runs as `enphase ... --json` through
-- domoticz.executeShellCommand, and its result comes back later as a
-- shellCommandResponses event: the event thread never waits on the network.
-- The command's token cache makes a call cost no login. One call per job at a
-- time (a job: a switch, the settings read, the schedules read); Domoticz
-- kills a call after TIMEOUT seconds, so a dead network never piles calls up.
-- A failure goes to the Domoticz log with its kind (auth, network, timeout...)
-- and the switch goes back to the battery's last known state, then a read
-- confirms the real one. A change made elsewhere (the Enphase app) shows on
-- the switches at the next poll.

-- Settings. Two optional string user variables override the first two:
-- enphase_command and enphase_config.
local ENPHASE = "/usr/local/bin/enphase" -- the command line that runs `enphase`
local CONFIG = "/home/pi/.config/enphase.conf" -- ENPHASE_EMAIL/PASSWORD/TOKEN_CACHE, chmod 600
local SWITCHES = { cfg = "Enphase CFG", dtg = "Enphase DTG", rbd = "Enphase RBD" }
local STATUS_TEXT = "Enphase battery" -- a Text device (set it to "" for none)
local POLL = "every 5 minutes"
local TIMEOUT = 60 -- seconds; a toggle is isValid, 1 s, PUT, read back

local KINDS = { "cfg", "dtg", "rbd" }
local FIELDS = { cfg = "charge_from_grid", dtg = "discharge_to_grid", rbd = "restrict_discharge" }
local CALLBACK = "enphase_" -- .. job
local JOBS = { cfg = true, dtg = true, rbd = true, settings = true, schedules = true, battery = true }
local DAY_NAMES = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" }

local function kind_of_switch(name)
  for _, k in ipairs(KINDS) do
    if SWITCHES[k] == name then
      return k
    end
  end
  return nil
end

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function setting(dz, variable, default)
  local v = dz.utils.variableExists(variable) and dz.variables(variable).value
  return (type(v) == "string" and v ~= "") and v or default
end

-- A job is busy from its start until its response, or for TIMEOUT and a
-- margin at most (a response Domoticz lost, e.g. across a restart).
local function busy(dz, job)
  local since = dz.data.busy[job]
  return since ~= nil and os.time() - since < TIMEOUT + 30
end

local function run(dz, job, args)
  if busy(dz, job) then
    dz.log(("%s: the previous call is still running; not starting another (its result will "
      .. "show)"):format(job), dz.LOG_INFO)
    return false
  end
  dz.data.busy[job] = os.time()
  dz.executeShellCommand({
    command = ("%s %s --json --config %s"):format(setting(dz, "enphase_command", ENPHASE), args,
      shell_quote(setting(dz, "enphase_config", CONFIG))),
    callback = CALLBACK .. job,
    timeout = TIMEOUT,
  })
  return true
end

local function poll(dz)
  dz.data.poll_started = os.time()
  run(dz, "settings", "settings")
  if STATUS_TEXT ~= "" then
    run(dz, "schedules", "schedule list")
    run(dz, "battery", "battery")
  end
end

-- Puts switch `kind` to `on` without triggering this script again.
local function show_switch(dz, kind, on)
  local device = dz.devices(SWITCHES[kind])
  if on ~= nil and device.active ~= on then
    if on then
      device.switchOn().silent()
    else
      device.switchOff().silent()
    end
  end
end

-- The next start of the schedules (days 1 = Monday; Domoticz's local time).
local function next_schedule(schedules)
  local now = os.date("*t")
  local today = (now.wday + 5) % 7 + 1 -- Lua's wday: 1 = Sunday
  local now_min = now.hour * 60 + now.min
  local best, best_in
  for _, kind in ipairs(KINDS) do
    for _, s in ipairs(schedules[kind] or {}) do
      local h, m = tostring(s.start_time):match("^(%d+):(%d+)")
      if h and s.enabled ~= false then
        local start = tonumber(h) * 60 + tonumber(m)
        for _, d in ipairs(s.days or {}) do
          local ahead = ((d - today) % 7) * 1440 + start - now_min
          if ahead < 0 then
            ahead = ahead + 7 * 1440
          end
          if not best_in or ahead < best_in then
            best, best_in = ("%s %s-%s %s"):format(kind:upper(), s.start_time, s.end_time,
              DAY_NAMES[d] or "?"), ahead
          end
        end
      end
    end
  end
  return best or "none"
end

local function show_status(dz, problem)
  if STATUS_TEXT == "" then
    return
  end
  local known, s = dz.data.known, dz.data.settings
  local parts = {}
  for _, k in ipairs(KINDS) do
    local v = known[k]
    parts[#parts + 1] = k:upper() .. " " .. (v == nil and "?" or (v and "on" or "off"))
  end
  local text = table.concat(parts, ", ")
  if dz.data.soc then
    text = ("SoC %d%%, %s"):format(dz.data.soc, text)
  end
  if s.profile then
    text = text .. "; " .. tostring(s.profile) .. ", reserve " .. tostring(s.reserve or "?") .. "%"
  end
  if dz.data.schedules then
    text = text .. "; next: " .. next_schedule(dz.data.schedules)
  end
  if problem then
    text = text .. " (" .. problem .. ")"
  end
  local device = dz.devices(STATUS_TEXT)
  if device.text ~= text then
    device.updateText(text)
  end
end

-- The failure of a response: its kind and message.
local function failure(item)
  if item.timeoutOccurred then
    return "timeout", ("no answer within %d s (killed)"):format(TIMEOUT)
  end
  local j = item.isJSON and item.json or {}
  if j.kind then
    return j.kind, j.error or item.errorText
  end
  if item.statusCode == 127 or item.statusCode == 126 then
    return "setup", "cannot run the enphase command: " .. (item.errorText or "")
  end
  return "unknown", ("exit status %s: %s"):format(tostring(item.statusCode), item.errorText or "")
end

local function on_toggle(dz, kind, item)
  local wanted = dz.data.wanted[kind]
  if item.ok and item.isJSON and type(item.json[FIELDS[kind]]) == "boolean" then
    local on = item.json[FIELDS[kind]]
    dz.data.known[kind] = on
    dz.data.changed_at[kind] = os.time()
    show_switch(dz, kind, on)
    dz.log(("%s %s"):format(kind, on and "on" or "off"), dz.LOG_INFO)
    show_status(dz)
    return
  end
  local fkind, message = failure(item)
  dz.log(("%s %s failed (%s): %s"):format(kind, wanted and "on" or "off", fkind,
    message), dz.LOG_ERROR)
  -- back to the state we know (else to the one before the flip), then read
  -- the real one
  local known = dz.data.known[kind]
  if known == nil then
    known = not wanted
  end
  show_switch(dz, kind, known)
  dz.data.changed_at[kind] = nil
  poll(dz)
end

local function on_settings(dz, item)
  if not (item.ok and item.isJSON and type(item.json.chargeFromGrid) == "boolean") then
    local fkind, message = failure(item)
    dz.log(("reading the battery settings failed (%s): %s"):format(fkind, message),
      dz.LOG_ERROR)
    show_status(dz, "read failed: " .. fkind)
    return
  end
  local j = item.json
  local values = {
    cfg = j.chargeFromGrid,
    dtg = type(j.dtgControl) == "table" and j.dtgControl.enabled == true,
    rbd = type(j.rbdControl) == "table" and j.rbdControl.enabled == true,
  }
  local started = dz.data.poll_started or 0
  for _, k in ipairs(KINDS) do
    -- a toggle in flight, or one finished after this read began, knows better
    local newer = dz.data.changed_at[k] and dz.data.changed_at[k] >= started
    if not busy(dz, k) and not newer then
      dz.data.known[k] = values[k]
      show_switch(dz, k, values[k])
    end
  end
  dz.data.settings = { profile = j.profile, reserve = j.batteryBackupPercentage }
  show_status(dz)
end

local function on_schedules(dz, item)
  if item.ok and item.isJSON then
    dz.data.schedules = {}
    for _, k in ipairs(KINDS) do
      dz.data.schedules[k] = type(item.json[k]) == "table" and item.json[k] or {}
    end
    show_status(dz)
  else
    local fkind, message = failure(item)
    dz.log(("reading the schedules failed (%s): %s"):format(fkind, message), dz.LOG_ERROR)
  end
end

local function on_battery(dz, item)
  if item.ok and item.isJSON then
    local soc = tonumber(item.json.soc)
    dz.data.soc = soc and math.floor(soc + 0.5) or false
    show_status(dz)
  else
    local fkind, message = failure(item)
    dz.log(("reading the battery's charge failed (%s): %s"):format(fkind, message),
      fkind == "unsupported" and dz.LOG_INFO or dz.LOG_ERROR)
  end
end

local responses = {}
for job in pairs(JOBS) do
  responses[#responses + 1] = CALLBACK .. job
end

return {
  on = {
    devices = { SWITCHES.cfg, SWITCHES.dtg, SWITCHES.rbd },
    timer = { POLL },
    system = { "start" },
    shellCommandResponses = responses,
  },
  data = {
    busy = { initial = {} }, -- job -> start time
    wanted = { initial = {} }, -- kind -> the state asked for
    known = { initial = {} }, -- kind -> the battery's last known state
    changed_at = { initial = {} }, -- kind -> time of the last successful toggle
    poll_started = { initial = 0 },
    settings = { initial = {} },
    schedules = { initial = false }, -- kind -> list, once read
    soc = { initial = false }, -- state of charge, percent, once read
  },
  logging = { marker = "enphase" },
  execute = function(dz, item)
    if item.isShellCommandResponse then
      local job = item.callback:sub(#CALLBACK + 1)
      dz.data.busy[job] = nil
      if job == "settings" then
        on_settings(dz, item)
      elseif job == "schedules" then
        on_schedules(dz, item)
      elseif job == "battery" then
        on_battery(dz, item)
      elseif FIELDS[job] then
        on_toggle(dz, job, item)
      end
    elseif item.isDevice then
      local kind = kind_of_switch(item.name)
      if kind and run(dz, kind, ("%s %s"):format(kind, item.active and "on" or "off")) then
        dz.data.wanted[kind] = item.active
      end
    else -- the poll timer, or Domoticz starting
      poll(dz)
    end
  end,
}
