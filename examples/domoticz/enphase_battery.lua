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
-- A flip made while its switch's call runs is remembered: when that call
-- answers, one more call is made if the battery is not where the last flip
-- wants it (the last flip wins).
-- A failure goes to the Domoticz log with its kind (auth, network, timeout...)
-- and the switch goes back to the battery's last known state, then a read
-- confirms the real one. A change made elsewhere (the Enphase app) shows on
-- the switches at the next poll; the first poll runs on the first minute
-- after the script is installed.
-- A missing device is logged once and skipped. A script error is logged and
-- never leaves a job marked busy (dzVents keeps no data of a run that
-- raised); a clock set back never makes a job look busy.

-- Settings. Two optional string user variables override the first two:
-- enphase_command and enphase_config. Without enphase_command, the first of
-- COMMANDS that exists runs (the Debian package installs /usr/bin/enphase,
-- `luarocks make` /usr/local/bin/enphase), else `enphase` from the PATH.
local COMMANDS = { "/usr/bin/enphase", "/usr/local/bin/enphase" }
local CONFIG = "/home/pi/.config/enphase.conf" -- ENPHASE_EMAIL/PASSWORD/TOKEN_CACHE, chmod 600
local SWITCHES = { cfg = "Enphase CFG", dtg = "Enphase DTG", rbd = "Enphase RBD" }
local STATUS_TEXT = "Enphase battery" -- a Text device (set it to "" for none)
local POLL = 300 -- seconds between reads of the battery
local TIMEOUT = 60 -- seconds; a toggle is isValid, 1 s, PUT, read back
-- Without HOME (a service), the command has no token cache of its own: every
-- call would log in, and its lock-out guard would forget a refused login
-- between calls. The script then points ENPHASE_TOKEN_CACHE at this file in
-- dzVents' data folder (a cache named in the config file still wins).
local FALLBACK_CACHE = "enphase-session.json"

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

local function exists(path)
  local f = io.open(path, "r")
  if f then
    f:close()
  end
  return f ~= nil
end

-- The command: the user variable, else the first of COMMANDS installed.
local function command(dz)
  local chosen = setting(dz, "enphase_command", nil)
  if chosen then
    return chosen
  end
  for _, path in ipairs(COMMANDS) do
    if exists(path) then
      return shell_quote(path)
    end
  end
  return "enphase"
end

-- True when the command finds no default token cache (no absolute HOME or
-- XDG_CACHE_HOME in Domoticz's environment).
local function homeless()
  local function absolute(name)
    local v = os.getenv(name)
    return v ~= nil and v:sub(1, 1) == "/"
  end
  return not absolute("HOME") and not absolute("XDG_CACHE_HOME")
end

-- The environment the command runs with: without a HOME, a token cache in
-- dzVents' data folder, said loudly once (again after each Domoticz start).
local function environment(dz)
  if not homeless() then
    dz.data.warned_homeless = false
    return ""
  end
  local cache = (_G.dataFolderPath or ".") .. "/" .. FALLBACK_CACHE
  if not dz.data.warned_homeless then
    dz.data.warned_homeless = true
    dz.log(("Domoticz runs without HOME, so the enphase command has no token cache of its own: "
      .. "every call would log in, and a wrong password would be tried at each call. Using %s "
      .. "(set ENPHASE_TOKEN_CACHE in %s to choose another file)."):format(cache,
      setting(dz, "enphase_config", CONFIG)), dz.LOG_ERROR)
  end
  return "ENPHASE_TOKEN_CACHE=" .. shell_quote(cache) .. " "
end

-- Seconds since `since`, or nil when `since` is in the future: the clock was
-- set back, and a time taken before that says nothing.
local function age(since)
  local a = since and os.time() - since
  return a and a >= 0 and a or nil
end

-- A job is busy from its start until its response, or for TIMEOUT and a
-- margin at most (a response Domoticz lost, e.g. across a restart).
local function busy(dz, job)
  local a = age(dz.data.busy[job])
  return a ~= nil and a < TIMEOUT + 30
end

-- A device by name, or nil (logged once until it appears) when Domoticz has
-- none by that name, or it lacks the method the script needs.
local function device(dz, name, method)
  local found = dz.utils.deviceExists(name) and dz.devices(name)
  if found and type(found[method]) == "function" then
    dz.data.missing[name] = nil
    return found
  end
  if not dz.data.missing[name] then
    dz.data.missing[name] = true
    dz.log(("no %s device named %q: create it, or change the name in the script's settings "
      .. "(skipped until then)"):format(method == "updateText" and "Text" or "On/Off switch",
      name), dz.LOG_ERROR)
  end
  return nil
end

local function run(dz, job, args)
  if busy(dz, job) then
    dz.log(("%s: the previous call is still running; not starting another (its result will "
      .. "show)"):format(job), dz.LOG_INFO)
    return false
  end
  dz.data.busy[job] = os.time()
  dz.executeShellCommand({
    command = ("%s%s %s --json --config %s"):format(environment(dz), command(dz), args,
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

-- Asks the battery for switch `kind`'s state `on`.
local function toggle(dz, kind, on)
  if run(dz, kind, ("%s %s"):format(kind, on and "on" or "off")) then
    dz.data.asked[kind] = on
    return true
  end
  return false
end

-- Puts switch `kind` to `on` without triggering this script again.
local function show_switch(dz, kind, on)
  local switch = on ~= nil and device(dz, SWITCHES[kind], "switchOn")
  if switch and switch.active ~= on then
    if on then
      switch.switchOn().silent()
    else
      switch.switchOff().silent()
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
  local status = device(dz, STATUS_TEXT, "updateText")
  if status and status.text ~= text then
    status.updateText(text)
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
    return "setup", "cannot run the enphase command (set the user variable enphase_command to "
      .. "its path): " .. (item.errorText or "")
  end
  return "unknown", ("exit status %s: %s"):format(tostring(item.statusCode), item.errorText or "")
end

-- What to do about a refused login: the user's part.
local function advice(dz, fkind)
  if fkind == "auth" or fkind == "locked" or fkind == "mfa" then
    return (" (check ENPHASE_EMAIL and ENPHASE_PASSWORD in %s; after fixing them, run `enphase "
      .. "login --config %s` as the user Domoticz runs as: automatic logins pause after a "
      .. "refusal)"):format(setting(dz, "enphase_config", CONFIG),
      setting(dz, "enphase_config", CONFIG))
  end
  return ""
end

local function on_toggle(dz, kind, item)
  local asked, wanted = dz.data.asked[kind], dz.data.wanted[kind]
  dz.data.asked[kind] = nil
  if item.ok and item.isJSON and type(item.json[FIELDS[kind]]) == "boolean" then
    local on = item.json[FIELDS[kind]]
    dz.data.known[kind] = on
    dz.data.changed_at[kind] = os.time()
    dz.log(("%s %s"):format(kind, on and "on" or "off"), dz.LOG_INFO)
    -- the last flip wins: one more call when it wants the other state
    if wanted ~= nil and wanted ~= on and toggle(dz, kind, wanted) then
      dz.log(("%s: switched %s meanwhile: asking for that now"):format(kind,
        wanted and "on" or "off"), dz.LOG_INFO)
    else
      dz.data.wanted[kind] = nil
      show_switch(dz, kind, on)
    end
    show_status(dz)
    return
  end
  local fkind, message = failure(item)
  dz.log(("%s %s failed (%s): %s%s"):format(kind, asked and "on" or "off", fkind,
    message, advice(dz, fkind)), dz.LOG_ERROR)
  -- a later flip asked for the other state: that is the user's last word
  if wanted ~= nil and wanted ~= asked and toggle(dz, kind, wanted) then
    return
  end
  dz.data.wanted[kind] = nil
  -- back to the state we know (else to the one before the flip), then read
  -- the real one
  local known = dz.data.known[kind]
  if known == nil and asked ~= nil then
    known = not asked
  end
  show_switch(dz, kind, known)
  dz.data.changed_at[kind] = nil
  poll(dz)
end

local function on_settings(dz, item)
  if not (item.ok and item.isJSON and type(item.json.chargeFromGrid) == "boolean") then
    local fkind, message = failure(item)
    dz.log(("reading the battery settings failed (%s): %s%s"):format(fkind, message,
      advice(dz, fkind)), dz.LOG_ERROR)
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

local function on_response(dz, item)
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
end

local function on_flip(dz, item)
  local kind = kind_of_switch(item.name)
  if not kind then
    return
  end
  dz.data.wanted[kind] = item.active
  if busy(dz, kind) then
    dz.log(("%s: a call is still running; %s follows when it answers"):format(kind,
      item.active and "on" or "off"), dz.LOG_INFO)
  else
    toggle(dz, kind, item.active)
  end
end

local function handle(dz, item)
  if item.isShellCommandResponse then
    on_response(dz, item)
  elseif item.isDevice then
    on_flip(dz, item)
  end
  -- every minute: a poll when the last one is POLL old, never ran (the
  -- script was just installed: no start event comes), or lies in the future
  local since = age(dz.data.polled_at)
  if item.isSystemEvent then
    dz.data.warned_homeless = false
  end
  if item.isSystemEvent or (item.isTimer and (not since or since >= POLL)) then
    dz.data.polled_at = os.time()
    poll(dz)
  end
end

local responses = {}
for job in pairs(JOBS) do
  responses[#responses + 1] = CALLBACK .. job
end

return {
  on = {
    devices = { SWITCHES.cfg, SWITCHES.dtg, SWITCHES.rbd },
    timer = { "every minute" },
    system = { "start" },
    shellCommandResponses = responses,
  },
  data = {
    busy = { initial = {} }, -- job -> start time
    wanted = { initial = {} }, -- kind -> the state the last flip asked for
    asked = { initial = {} }, -- kind -> the state the call in flight asks for
    known = { initial = {} }, -- kind -> the battery's last known state
    changed_at = { initial = {} }, -- kind -> time of the last successful toggle
    poll_started = { initial = 0 },
    polled_at = { initial = false }, -- time of the last poll, once polled
    settings = { initial = {} },
    schedules = { initial = false }, -- kind -> list, once read
    soc = { initial = false }, -- state of charge, percent, once read
    missing = { initial = {} }, -- device name -> true once its absence was logged
    warned_homeless = { initial = false },
  },
  logging = { marker = "enphase" },
  execute = function(dz, item)
    -- dzVents saves no data of a run that raised: a bug here must not leave
    -- a job busy, so it is logged and the run ends normally
    local ok, err = pcall(handle, dz, item)
    if not ok then
      dz.log("script error (the busy state is kept): " .. tostring(err), dz.LOG_ERROR)
    end
  end,
}
