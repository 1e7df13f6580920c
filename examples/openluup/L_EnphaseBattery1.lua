-- L_EnphaseBattery1.lua: lua-enphase's openLuup plugin (README: "openLuup").
--
-- A parent device (the battery) shows SoC, Profile, Reserve, NextSchedule,
-- LastError and Budget under urn:lua-enphase:serviceId:EnphaseBattery1; three
-- child BinaryLight:1 switches (altid cfg, dtg, rbd) turn charge from grid,
-- discharge to grid and restrict battery discharge on and off (SwitchPower1
-- SetTarget; Status follows the battery).
--
-- openLuup is one thread: anything that waits stalls every request and
-- every plugin. So each Enlighten call runs as the `enphase ... --json`
-- command in the background (a shell script whose output goes to files),
-- and a luup.call_delay callback looks for its result every WATCH seconds.
-- The command runs under its own Lua (5.3 or 5.4), whatever openLuup's (5.1
-- or LuaJIT), and its token cache makes a call cost no login. The background
-- child closes the descriptors it inherits (openLuup's listening sockets,
-- its log), so openLuup can restart while a call runs; the calls in flight
-- are kept in the Pending variable, and their results are picked up after
-- the restart.
--
-- One call per job at a time (a job: a switch, or the poll). A flip made
-- while its switch's call runs is remembered; when that call answers, one
-- more call is made if the battery is not where the last flip wants it (the
-- last flip wins). A failure goes to LastError and the log with its mode
-- (auth, network, timeout...), the switch's Target goes back to its Status,
-- and a poll reads the real state. A deleted child switch is logged once and
-- skipped (it comes back at the next start, as luup.chdev does).
--
-- Loaded with require: this file runs in openLuup's global environment; the
-- globals named in I_EnphaseBattery1.xml lead here.
-- luacheck: read globals luup jit
local decode
do
  local ok, cjson = pcall(require, "cjson.safe")
  if ok then
    decode = cjson.decode
  else -- openLuup's own JSON module (it raises on bad input)
    local json = require("openLuup.json")
    decode = function(s)
      local good, v = pcall(json.decode, s)
      return good and v or nil
    end
  end
end

local SID = "urn:lua-enphase:serviceId:EnphaseBattery1"
local SWP = "urn:upnp-org:serviceId:SwitchPower1"
local BINARY_LIGHT = "urn:schemas-upnp-org:device:BinaryLight:1"
local MODES = { "cfg", "dtg", "rbd" }
local NAMES = { cfg = "Enphase CFG", dtg = "Enphase DTG", rbd = "Enphase RBD" }
local FIELDS = { cfg = "charge_from_grid", dtg = "discharge_to_grid", rbd = "restrict_discharge" }
-- the poll's commands, in the order they run
local READS = { { "settings", "settings" }, { "schedules", "schedule list" },
  { "battery", "battery" }, { "status", "status" } }
local COMMANDS = { "/usr/bin/enphase", "/usr/local/bin/enphase" }
local DEFAULTS = { Command = "", Config = "/etc/cmh-ludl/enphase.conf", PollInterval = "300",
  Timeout = "60" }
local WATCH = 0.25 -- seconds between looks for a finished command
local DAY_NAMES = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" }

local M = {}

-- Per parent device: jobs (name -> {base, started, asked}), wanted
-- (mode -> the last flip), known (mode -> the battery's state), changed_at,
-- poll_started, missing (mode -> logged), watching.
local states = {}

local function log(parent, msg, level)
  luup.log("EnphaseBattery[" .. parent .. "]: " .. msg, level)
end

local function get(parent, name)
  local v = luup.variable_get(SID, name, parent)
  if v == nil or v == "" then
    return DEFAULTS[name]
  end
  return v
end

local function set(dev, name, value, sid)
  value = tostring(value)
  if luup.variable_get(sid or SID, name, dev) ~= value then
    luup.variable_set(sid or SID, name, value, dev)
  end
end

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function exists(path)
  local f = io.open(path, "r")
  if f then
    f:close()
  end
  return f ~= nil
end

local function slurp(path)
  local f = io.open(path, "r")
  if not f then
    return nil
  end
  local s = f:read("*a")
  f:close()
  return s
end

-- Seconds since `since`, or nil when it lies in the future (a clock set back).
local function age(since)
  local a = since and os.time() - since
  return a and a >= 0 and a or nil
end

-- The child switch of `mode`, or nil (logged once until it is back).
local function child(parent, mode)
  local st = states[parent]
  for n, d in pairs(luup.devices) do
    if d.device_num_parent == parent and d.id == mode then
      st.missing[mode] = nil
      return n
    end
  end
  if not st.missing[mode] then
    st.missing[mode] = true
    log(parent, ("no child switch %s (deleted?): skipped until the next start"):format(mode), 2)
  end
  return nil
end

local function mode_of(dev)
  local d = luup.devices[dev]
  return d and d.device_num_parent ~= 0 and FIELDS[d.id] and d.id or nil, d and d.device_num_parent
end

-- The command line's start: the environment and the command itself.
local function command(parent)
  local env, cmd = "", get(parent, "Command")
  if cmd == "" then
    cmd = "enphase"
    for _, path in ipairs(COMMANDS) do
      if exists(path) then
        cmd = quote(path)
        break
      end
    end
  end
  local home = os.getenv("HOME")
  if not (home and home:sub(1, 1) == "/") then
    -- no default token cache: a login per call, a guard that forgets
    env = "ENPHASE_TOKEN_CACHE=" .. quote((os.getenv("PWD") or ".") .. "/enphase-session.json") .. " "
    if not states[parent].warned_homeless then
      states[parent].warned_homeless = true
      log(parent, "openLuup runs without HOME: the enphase command has no token cache of its own; "
        .. "using enphase-session.json in openLuup's folder (set ENPHASE_TOKEN_CACHE in "
        .. get(parent, "Config") .. " to choose another file)", 1)
    end
  end
  return env .. "timeout -s KILL " .. (tonumber(get(parent, "Timeout")) or 60) .. " " .. cmd
end

-- The Pending variable: the jobs in flight, so that a restart finds them.
local function save_pending(parent)
  local parts = {}
  for name, job in pairs(states[parent].jobs) do
    local asked = job.asked == nil and "-" or (job.asked and "1" or "0")
    parts[#parts + 1] = ("%s %s %d %s"):format(name, asked, job.started, job.base)
  end
  table.sort(parts)
  set(parent, "Pending", table.concat(parts, ";"))
end

-- Starts `steps` ({name, args}...) one after the other in the background,
-- each only if the one before succeeded (a poll stops at its first failure:
-- the next reads would fail the same way); each step's stdout, stderr and
-- exit status go to BASE.name.{out,err,rc}, and BASE.done appears at the end.
local function spawn(parent, steps)
  local base = os.tmpname()
  local f = io.open(base, "w")
  if not f then
    return nil
  end
  local head = command(parent)
  local config = quote(get(parent, "Config"))
  f:write("ok=0\n")
  for _, step in ipairs(steps) do
    local out = quote(base .. "." .. step[1])
    f:write(("[ $ok = 0 ] && { %s %s --json --config %s >%s.out 2>%s.err </dev/null; ok=$?; "
      .. "echo $ok >%s.rc; }\n"):format(head, step[2], config, out, out, out))
  end
  f:write(("rm -f %s\n: >%s.done\n"):format(quote(base), quote(base)))
  f:close()
  -- bash closes every inherited descriptor above 2 (dash cannot above 9), then runs the script
  os.execute("bash -c 'for f in /proc/$$/fd/*; do n=${f##*/}; [ \"$n\" -gt 2 ] && eval \"exec $n>&-\"; "
    .. "done; exec sh " .. base .. "' </dev/null >/dev/null 2>&1 &")
  return base
end

-- A finished step: its decoded JSON (a table), or nil, mode, message.
local function result(parent, base, name)
  local out, err = slurp(base .. "." .. name .. ".out"), slurp(base .. "." .. name .. ".err")
  local rc = tonumber((slurp(base .. "." .. name .. ".rc") or ""):match("%d+"))
  for _, ext in ipairs({ ".out", ".err", ".rc" }) do
    os.remove(base .. "." .. name .. ext)
  end
  local j = out and decode(out)
  if rc == 0 and type(j) == "table" then
    return j
  elseif rc == 137 then
    return nil, "timeout", ("no answer within %s s (killed)"):format(get(parent, "Timeout"))
  elseif type(j) == "table" and j.kind then
    return nil, j.kind, tostring(j.error)
  elseif rc == 126 or rc == 127 then
    return nil, "setup", "cannot run the enphase command (set the Command variable): "
      .. (err or ""):gsub("%s+$", "")
  end
  return nil, "unknown", ("exit status %s: %s"):format(tostring(rc), (err or ""):gsub("%s+$", ""))
end

local function watch_later(parent)
  local st = states[parent]
  if not st.watching then
    st.watching = true
    luup.call_delay("enphase_battery_watch", WATCH, tostring(parent))
  end
end

local function start(parent, name, steps, asked)
  local st = states[parent]
  local job = st.jobs[name]
  local a = job and age(job.started)
  if a and a < (tonumber(get(parent, "Timeout")) or 60) * #steps + 30 then
    return false
  end
  local base = spawn(parent, steps)
  if not base then
    log(parent, "cannot write a command file in /tmp", 1)
    return false
  end
  st.jobs[name] = { base = base, started = os.time(), asked = asked }
  save_pending(parent)
  watch_later(parent)
  return true
end

local function toggle(parent, mode, on)
  return start(parent, mode, { { mode, mode .. (on and " on" or " off") } }, on)
end

--- Reads the battery (settings, schedules, charge, request budget) in the background.
function M.poll(parent)
  local st = states[parent]
  if st and start(parent, "poll", READS) then
    st.poll_started = os.time()
  end
  return true
end

local function show_switch(parent, mode, on)
  local dev = child(parent, mode)
  if dev and on ~= nil then
    set(dev, "Status", on and "1" or "0", SWP)
    set(dev, "Target", on and "1" or "0", SWP)
  end
end

local function failed(parent, what, fkind, message)
  local advice = ""
  if fkind == "auth" or fkind == "locked" or fkind == "mfa" then
    advice = (" (check ENPHASE_EMAIL and ENPHASE_PASSWORD in %s, then run `enphase login "
      .. "--config %s` as the user openLuup runs as)"):format(get(parent, "Config"),
      get(parent, "Config"))
  end
  local text = ("%s failed (%s): %s%s"):format(what, fkind, message, advice)
  set(parent, "LastError", text)
  log(parent, text, 2)
end

local function on_toggle(parent, mode, job)
  local st = states[parent]
  local asked, wanted = job.asked, st.wanted[mode]
  local j, fkind, message = result(parent, job.base, mode)
  local on = j and j[FIELDS[mode]]
  if type(on) == "boolean" then
    st.known[mode] = on
    st.changed_at[mode] = os.time()
    set(parent, "LastError", "")
    log(parent, mode .. (on and " on" or " off"))
    if wanted ~= nil and wanted ~= on and toggle(parent, mode, wanted) then
      local dev = child(parent, mode)
      if dev then
        set(dev, "Status", on and "1" or "0", SWP)
      end
      return
    end
    st.wanted[mode] = nil
    show_switch(parent, mode, on)
    return
  end
  failed(parent, ("%s %s"):format(mode, asked and "on" or "off"), fkind or "unknown",
    message or "no answer")
  if wanted ~= nil and wanted ~= asked and toggle(parent, mode, wanted) then
    return -- a later flip asked for the other state
  end
  st.wanted[mode] = nil
  local known = st.known[mode]
  if known == nil and asked ~= nil then
    known = not asked
  end
  show_switch(parent, mode, known)
  st.changed_at[mode] = nil
  M.poll(parent)
end

-- The next start of the schedules (days 1 = Monday; local time).
local function next_schedule(schedules)
  local now = os.date("*t")
  local today = (now.wday + 5) % 7 + 1
  local now_min = now.hour * 60 + now.min
  local best, best_in
  for _, mode in ipairs(MODES) do
    for _, s in ipairs(type(schedules[mode]) == "table" and schedules[mode] or {}) do
      local h, m = tostring(s.start_time):match("^(%d+):(%d+)")
      if h and s.enabled ~= false then
        for _, d in ipairs(type(s.days) == "table" and s.days or {}) do
          local ahead = ((d - today) % 7) * 1440 + tonumber(h) * 60 + tonumber(m) - now_min
          if ahead < 0 then
            ahead = ahead + 7 * 1440
          end
          if not best_in or ahead < best_in then
            best, best_in = ("%s %s-%s %s"):format(mode:upper(), s.start_time,
              tostring(s.end_time), DAY_NAMES[d] or "?"), ahead
          end
        end
      end
    end
  end
  return best or "none"
end

local function on_poll(parent, job)
  local st = states[parent]
  local problem
  local s, fkind, message = result(parent, job.base, "settings")
  if s and type(s.chargeFromGrid) == "boolean" then
    local values = { cfg = s.chargeFromGrid,
      dtg = type(s.dtgControl) == "table" and s.dtgControl.enabled == true,
      rbd = type(s.rbdControl) == "table" and s.rbdControl.enabled == true }
    for _, k in ipairs(MODES) do
      -- a toggle in flight, or one finished after this read began, knows better
      local newer = st.changed_at[k] and st.changed_at[k] >= (st.poll_started or 0)
      if not st.jobs[k] and not newer then
        st.known[k] = values[k]
        show_switch(parent, k, values[k])
      end
    end
    set(parent, "Profile", tostring(s.profile))
    set(parent, "Reserve", tostring(s.batteryBackupPercentage))
  else
    problem = { "reading the settings", fkind or "unknown", message or "unexpected answer" }
  end
  local sched = result(parent, job.base, "schedules")
  if sched then
    set(parent, "NextSchedule", next_schedule(sched))
  end
  local b = result(parent, job.base, "battery")
  if b and tonumber(b.soc) then
    set(parent, "SoC", math.floor(tonumber(b.soc) + 0.5))
  end
  local status = result(parent, job.base, "status")
  local budget = status and status.budget
  if type(budget) == "table" then
    set(parent, "Budget", ("%s/%s in %s s"):format(tostring(budget.used), tostring(budget.limit),
      tostring(budget.window)))
  end
  if problem then
    failed(parent, problem[1], problem[2], problem[3])
  elseif not next(st.jobs) then
    set(parent, "LastError", "")
  end
end

local function finish(parent, name, job)
  local st = states[parent]
  st.jobs[name] = nil
  save_pending(parent)
  if name == "poll" then
    on_poll(parent, job)
  else
    on_toggle(parent, name, job)
  end
  os.remove(job.base .. ".done")
end

--- The luup.call_delay callback: handles every finished command of a parent.
function M.watch(data)
  local parent = tonumber(data)
  local st = parent and states[parent]
  if not st then
    return
  end
  st.watching = false
  local names = {}
  for name in pairs(st.jobs) do
    names[#names + 1] = name
  end
  table.sort(names)
  for _, name in ipairs(names) do
    local job = st.jobs[name]
    if exists(job.base .. ".done") then
      local ok, err = pcall(finish, parent, name, job)
      if not ok then
        st.jobs[name] = nil
        log(parent, "error handling " .. name .. ": " .. tostring(err), 1)
      end
    elseif not age(job.started) or age(job.started) > (tonumber(get(parent, "Timeout")) or 60)
        * #READS + 30 then
      st.jobs[name] = nil -- its command never finished (killed with openLuup's machine?)
      save_pending(parent)
      set(parent, "LastError", name .. " failed (timeout): the command never finished")
    end
  end
  if next(st.jobs) then
    watch_later(parent)
  end
end

--- SetTarget on a child switch: Target at once, the battery in the background.
function M.set_target(dev, value)
  local mode, parent = mode_of(dev)
  if not mode or not states[parent] then
    return false
  end
  local on = (tonumber(value) or 0) ~= 0
  set(dev, "Target", on and "1" or "0", SWP)
  local st = states[parent]
  st.wanted[mode] = on
  if st.jobs[mode] then
    log(parent, ("%s: a call is running; %s follows when it answers"):format(mode,
      on and "on" or "off"))
  else
    toggle(parent, mode, on)
  end
  return true
end

--- The poll timer (every PollInterval seconds).
function M.timed_poll(data)
  local parent = tonumber(data)
  if parent and states[parent] then
    M.poll(parent)
    luup.call_delay("enphase_battery_poll", tonumber(get(parent, "PollInterval")) or 300, data)
  end
end

--- Device startup: the children, the calls a restart left in flight, a first poll.
function M.startup(parent)
  states[parent] = { jobs = {}, wanted = {}, known = {}, changed_at = {}, missing = {} }
  for name, value in pairs(DEFAULTS) do
    if luup.variable_get(SID, name, parent) == nil then
      luup.variable_set(SID, name, value, parent)
    end
  end
  local ptr = luup.chdev.start(parent)
  for _, mode in ipairs(MODES) do
    luup.chdev.append(parent, ptr, mode, NAMES[mode], BINARY_LIGHT, "D_BinaryLight1.xml", "", "",
      false)
  end
  luup.chdev.sync(parent, ptr) -- a new child: openLuup reloads
  -- the calls in flight when openLuup stopped: their results still land in their files
  for entry in (luup.variable_get(SID, "Pending", parent) or ""):gmatch("[^;]+") do
    local name, asked, started, base = entry:match("^(%a+) ([01-]) (%d+) (.+)$")
    if name then
      local on = nil
      if asked ~= "-" then
        on = asked == "1"
      end
      states[parent].jobs[name] = { base = base, started = tonumber(started), asked = on }
    end
  end
  if next(states[parent].jobs) then
    log(parent, "picking up the calls in flight before the restart: "
      .. luup.variable_get(SID, "Pending", parent))
    watch_later(parent)
  end
  log(parent, ("started under %s"):format(type(jit) == "table" and jit.version or _VERSION))
  luup.call_delay("enphase_battery_poll", 1, tostring(parent))
  return true, "OK", "EnphaseBattery"
end

return M
