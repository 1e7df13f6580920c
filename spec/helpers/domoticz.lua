-- A Domoticz host for specs: Domoticz's own dzVents runtime (loaded from
-- ../shared/hosts/dzvents/runtime beside the checkout, or $ENPHASE_DZVENTS;
-- never copied) run in a lua5.3 process per event, the way Domoticz runs it,
-- with the devices, user variables and shell commands kept here.
--
--   local host = require("helpers.domoticz").new()
--   host:install("examples/domoticz/x.lua", { ["TIMEOUT = 60"] = "TIMEOUT = 3" })
--   host:switch("Enphase CFG", "Off"); host:text("Enphase battery"); host:variable(n, v)
--   host:flip("Enphase CFG", "On")    the user flips a switch: a device event
--   host:timer()                      a timer event
--   host:start()                      Domoticz starting (system event "start")
--   host:run_commands()               runs the queued shell commands like Domoticz
--                                     and delivers their results (one event)
--   host.commands                     ExecuteShellCommand requests not yet run
--   host.results                      the responses delivered, in order
--   host:state(name) host:text_of(name) host.log (lines) host:errors()
--   host.triggered                    device changes made by scripts that would
--                                     trigger scripts again (not .silent())
--   host.env = "env -u HOME "          a prefix for Domoticz's environment: the
--                                     dzVents runs and the commands both get it
--   host:close()
local luadata = require("helpers.luadata")
local simulator = require("helpers.sim")
local procs = require("helpers.procs")
local fixture = require("helpers.fixture")

local M = {}

local quote = simulator.shell_quote

--- The dzVents runtime folder (with a trailing slash).
M.RUNTIME = fixture.folder("dzvents/runtime", "ENPHASE_DZVENTS") .. "/"

--- nil when the host can run, else why not (no lua5.3, no runtime).
function M.missing()
  if not procs.slurp(M.RUNTIME .. "dzVents.lua") then
    return "the dzVents runtime is not at " .. M.RUNTIME .. " (set ENPHASE_DZVENTS)"
  end
  if not procs.capture("command -v lua5.3"):match("lua5%.3") then
    return "lua5.3 is not installed (bash scripts/setup.sh installs it)"
  end
  return nil
end

local Host = {}
Host.__index = Host

function M.new()
  local dir = fixture.scratch("dzvents")
  for _, sub in ipairs({ "scripts", "data", "generated_scripts" }) do
    assert(os.execute("mkdir " .. quote(dir .. "/" .. sub)))
  end
  return setmetatable({ dir = dir .. "/", items = {}, log = {}, commands = {}, results = {},
    triggered = {}, runs = 0 }, Host)
end

function Host:close()
  os.execute("rm -rf " .. quote(self.dir))
end

--- Copies a dzVents script into the scripts folder, replacing each plain
-- `edits` key by its value (what a user edits in the settings).
function Host:install(path, edits)
  local text = assert(procs.slurp(path), path)
  for from, to in pairs(edits or {}) do
    local at = text:find(from, 1, true)
    assert(at, ("%s: no %q to edit"):format(path, from))
    text = text:sub(1, at - 1) .. to .. text:sub(at + #from)
  end
  procs.spit(self.dir .. "scripts/" .. path:match("[^/]+$"), text)
end

local function add(self, item)
  item.id = #self.items + 1
  item.lastUpdate = "2025-01-01 00:00:00"
  self.items[#self.items + 1] = item
  return item
end

function Host:switch(name, state)
  add(self, { baseType = "device", kind = "switch", name = name, state = state })
end

function Host:text(name, text)
  add(self, { baseType = "device", kind = "text", name = name, state = text or "" })
end

function Host:variable(name, value)
  add(self, { baseType = "uservariable", name = name, value = value })
end

function Host:find(name)
  for _, item in ipairs(self.items) do
    if item.name == name then
      return item
    end
  end
  error("no device or variable " .. name, 2)
end

function Host:state(name)
  return self:find(name).state
end

Host.text_of = Host.state

-- domoticzData: every item in Domoticz's shape, `changed` the one that changed.
local function data_of(self, changed)
  local data = {}
  for _, it in ipairs(self.items) do
    local d
    if it.baseType == "uservariable" then
      d = { baseType = "uservariable", id = it.id, name = it.name, variableType = "string",
        lastUpdate = it.lastUpdate, changed = false, data = { value = it.value } }
    else
      d = { baseType = "device", id = it.id, name = it.name, changed = it == changed,
        lastUpdate = it.lastUpdate, deviceID = ("%08d"):format(it.id), description = "",
        timedOut = "false", batteryLevel = 255, signalLevel = 255, lastLevel = 0,
        data = { hardwareName = "dummy", hardwareType = "Dummy (Does nothing, use for virtual "
          .. "switches only)", hardwareID = "2", hardwareTypeValue = 15 } }
      if it.kind == "switch" then
        d.deviceType, d.subType, d.switchType, d.switchTypeValue = "Light/Switch", "Switch",
          "On/Off", 0
        d.rawData = { it.state == "On" and "1" or "0" }
        d.data._state = it.state
        d.data.icon, d.data.maxDimLevel = "lightbulb", "100"
      else
        d.deviceType, d.subType, d.switchType, d.switchTypeValue = "General", "Text", "On/Off", 0
        d.rawData = { it.state }
        d.data._state = it.state
      end
    end
    data[#data + 1] = d
  end
  return data
end

-- Applies a commandArray: switch commands and UpdateDevice change the items,
-- ExecuteShellCommand requests are queued.
function Host:apply(commandArray)
  for _, entry in ipairs(commandArray) do
    for key, value in pairs(entry) do
      if key == "ExecuteShellCommand" then
        self.commands[#self.commands + 1] = value
      elseif key == "UpdateDevice" then
        for _, it in ipairs(self.items) do
          if it.id == value.idx then
            it.state = value.sValue
          end
        end
      elseif type(value) == "string" then
        local item = self:find(key)
        local state, rest = value:match("^(%S+)%s*(.*)$")
        item.state = state
        if not rest:find("NOTRIGGER", 1, true) then
          self.triggered[#self.triggered + 1] = key .. " " .. value
        end
      else
        error("the host does not know the command " .. key)
      end
    end
  end
end

-- One dzVents run in lua5.3; returns its commandArray (applied) and log lines.
function Host:run(event)
  event = event or {}
  self.runs = self.runs + 1
  local input = {
    runtime = M.RUNTIME,
    globalvariables = {
      radix_separator = ".", Security = "Disarmed", domoticz_listening_port = "8080",
      script_path = self.dir, runtime_path = M.RUNTIME, isTimeEvent = event.timer == true,
      currentTime = os.date("%Y-%m-%d %H:%M:%S") .. ".000", dzVents_version = "3.1.8",
      domoticz_version = "2025.1", dzVents_log_level = 2, latitude = 52, longitude = 5,
      locationSet = true,
    },
    domoticzData = data_of(self, event.changed),
    timeofday = { Daytime = true, Nighttime = false, SunriseInMinutes = 480,
      SunsetInMinutes = 1020 },
    shellcommandresponse = event.responses or {},
    httpresponse = {},
    notification = event.notification,
  }
  local infile, outfile = self.dir .. "input.lua", self.dir .. "output.lua"
  procs.spit(infile, luadata.encode(input))
  os.remove(outfile)
  local driver = simulator.ROOT .. "/spec/helpers/dzvents_driver.lua"
  local out = procs.capture((self.env or "") .. "lua5.3 " .. quote(driver) .. " " .. quote(infile)
    .. " " .. quote(outfile) .. " 2>&1")
  local lines = {}
  for line in out:gmatch("[^\n]+") do
    lines[#lines + 1] = line
    self.log[#self.log + 1] = line
  end
  local result = procs.slurp(outfile)
  assert(result, "dzVents did not finish:\n" .. out)
  local commandArray = assert(luadata.decode(result))
  self:apply(commandArray)
  return commandArray, lines
end

--- The user (or the UI) turns a switch to `state`: a device event.
function Host:flip(name, state)
  local item = self:find(name)
  item.state = state
  return self:run({ changed = item })
end

function Host:timer()
  return self:run({ timer = true })
end

--- Domoticz starting: the system event "start".
function Host:start()
  return self:run({ notification = { domoticz = { { type = "start", status = "info",
    message = "" } } } })
end

--- Runs one request like Domoticz: `/bin/sh -c command` in a child,
-- stdout and stderr to files, SIGKILL at the timeout (0: none). Returns the
-- response Domoticz hands to dzVents. `env`: a prefix such as "env -u HOME ".
function M.execute(request, env)
  local out, err = os.tmpname(), os.tmpname()
  local timeout = math.tointeger(request.timeout or 10) or 10
  local cmd = ("%stimeout -s KILL %d /bin/sh -c %s >%s 2>%s </dev/null"):format(env or "", timeout,
    quote(request.command), quote(out), quote(err))
  local started = os.time()
  local _, _, code = os.execute(cmd)
  local response = {
    callback = request.callback,
    data = procs.slurp(out) or "",
    errorText = procs.slurp(err) or "",
    statusCode = code,
    -- timeout(1) exits 137 when it killed the command
    timeoutOccurred = timeout > 0 and code == 137,
    seconds = os.time() - started,
  }
  os.remove(out)
  os.remove(err)
  return response
end

--- Runs every queued request (one after the other) and delivers their
-- results in one event. Returns the commandArray and the responses.
function Host:run_commands()
  local responses = {}
  local queued = self.commands
  self.commands = {}
  for _, request in ipairs(queued) do
    if request.callback then
      responses[#responses + 1] = M.execute(request, self.env)
      self.results[#self.results + 1] = responses[#responses]
    else
      M.execute(request, self.env)
    end
  end
  if #responses == 0 then
    return {}, responses
  end
  local ca = self:run({ responses = responses })
  return ca, responses
end

--- Log lines that report a script error or a dzVents error.
function Host:errors(pattern)
  local out = {}
  for _, line in ipairs(self.log) do
    if line:match("^Error") and (not pattern or line:find(pattern, 1, true)) then
      out[#out + 1] = line
    end
  end
  return out
end

return M
