-- An openLuup host for specs: the real openLuup runtime (the fixture in
-- ../shared/hosts/openluup beside the checkout, or $OPENLUUP_FIXTURE; never
-- copied into the project) started by its run-openluup.sh on a free
-- loopback port, under lua5.1 or luajit, with plugin files installed.
--
--   local box = require("helpers.openluup").start({ lua = "luajit",
--     files = { "examples/openluup/D_x.xml", ... }, folder = "cmh-lu" })
--   box:get("id=alive")                   the HTTP API (a string)
--   box:action(dev, sid, name, args)      id=action, output_format=json
--   box:var(dev, sid, name) box:set_var(dev, sid, name, value)
--   box:devices()                         number -> {parent=, altid=, name=}
--   box:wait(function, seconds, what)     until the function returns a true value
--   box:log()                             logs/LuaUPnP.log
--   box:reload()  box:stop()
local procs = require("helpers.procs")
local fixture = require("helpers.fixture")
local socket = require("socket")
local cjson = require("cjson")

local M = {}

local quote = procs.shell_quote

M.FIXTURE = fixture.folder("openluup", "OPENLUUP_FIXTURE")

--- nil when openLuup can run under `lua`, else why not.
function M.missing(lua)
  if not procs.slurp(M.FIXTURE .. "/run-openluup.sh") then
    return "the openLuup fixture is not at " .. M.FIXTURE .. " (set OPENLUUP_FIXTURE)"
  end
  if not procs.capture("command -v " .. lua):match(lua) then
    return lua .. " is not installed (apt install lua5.1 luajit lua-socket lua-sec lua-filesystem)"
  end
  if not procs.capture("command -v curl"):match("curl") then
    return "curl is not installed"
  end
  return nil
end

local function urlencode(s)
  return (tostring(s):gsub("[^%w%-_%.~]", function(c)
    return ("%%%02X"):format(c:byte())
  end))
end
M.urlencode = urlencode

local Box = {}
Box.__index = Box

--- Starts openLuup. opts: lua ("lua5.1" or "luajit"), files (paths to copy),
-- folder ("cmh-ludl" or "cmh-lu": where the files go).
function M.start(opts)
  local self = setmetatable({ dir = fixture.scratch("openluup"), port = fixture.free_port(),
    lua = opts.lua }, Box)
  self.url = ("http://127.0.0.1:%d/data_request?"):format(self.port)
  local folder = self.dir .. "/" .. (opts.folder or "cmh-ludl")
  assert(os.execute("mkdir -p " .. quote(folder) .. " " .. quote(self.dir .. "/cmh-ludl")))
  for _, f in ipairs(opts.files or {}) do
    assert(os.execute("cp " .. quote(f) .. " " .. quote(folder .. "/")))
  end
  -- the launcher (openLuup's reload loop) in its own process group
  self.launcher = tonumber(procs.capture(("OPENLUUP_LUA=%s setsid %s %s %d >%s 2>&1 </dev/null & "
    .. "echo $!"):format(quote(opts.lua), quote(M.FIXTURE .. "/run-openluup.sh"), quote(self.dir),
    self.port, quote(self.dir .. "/launcher.out"))))
  self:wait_alive()
  return self
end

function Box:get(query)
  return procs.capture("curl -s -m 10 " .. quote(self.url .. query))
end

function Box:wait(fn, seconds, what)
  local deadline = socket.gettime() + (seconds or 20)
  while true do
    local v = fn()
    if v then
      return v
    end
    if socket.gettime() > deadline then
      error("gave up waiting for " .. (what or "a condition") .. "\n" .. self:plugin_log(), 2)
    end
    socket.sleep(0.1)
  end
end

function Box:wait_alive()
  self:wait(function()
    return self:get("id=alive") == "OK"
  end, 30, "openLuup to answer on port " .. self.port)
end

function Box:action(dev, sid, name, args)
  local q = ("id=action&output_format=json&DeviceNum=%d&serviceId=%s&action=%s"):format(dev,
    urlencode(sid), urlencode(name))
  for k, v in pairs(args or {}) do
    q = q .. "&" .. urlencode(k) .. "=" .. urlencode(v)
  end
  return self:get(q)
end

function Box:var(dev, sid, name)
  local v = self:get(("id=variableget&DeviceNum=%d&serviceId=%s&Variable=%s"):format(dev,
    urlencode(sid), urlencode(name)))
  return v
end

function Box:set_var(dev, sid, name, value)
  assert(self:get(("id=variableset&DeviceNum=%d&serviceId=%s&Variable=%s&Value=%s"):format(dev,
    urlencode(sid), urlencode(name), urlencode(value))) == "OK")
end

--- The devices (id=sdata): number -> { parent = number, altid =, name = }.
function Box:devices()
  local ok, data = pcall(cjson.decode, self:get("id=sdata&output_format=json"))
  local out = {}
  for _, d in ipairs(ok and type(data) == "table" and data.devices or {}) do
    out[tonumber(d.id)] = { parent = tonumber(d.parent), altid = d.altid, name = d.name }
  end
  return out
end

function Box:log()
  return procs.slurp(self.dir .. "/cmh-ludl/logs/LuaUPnP.log") or ""
end

--- The log without openLuup's lines about HTTP requests (the last 40).
function Box:plugin_log()
  local lines = {}
  for line in self:log():gmatch("[^\n]+") do
    if not line:find("openLuup%.i?o?%.?server::") then
      lines[#lines + 1] = line
    end
  end
  return table.concat(lines, "\n", math.max(1, #lines - 39))
end

--- id=reload: openLuup saves, exits with 42 and its launcher starts it again.
function Box:reload()
  local pid = procs.slurp(self.dir .. "/openluup.pid")
  self:get("id=reload")
  self:wait(function()
    local now = procs.slurp(self.dir .. "/openluup.pid")
    return now and now ~= pid
  end, 20, "openLuup to restart")
  self:wait_alive()
end

function Box:stop()
  self:get("id=exit")
  local ok = pcall(self.wait, self, function()
    return not procs.slurp(self.dir .. "/openluup.pid")
  end, 10, "openLuup to exit")
  if not ok then
    os.execute("kill -- -" .. self.launcher .. " 2>/dev/null")
  end
  procs.rmdir(self.dir)
end

return M
