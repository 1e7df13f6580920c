--- The simulator as a child process, for `enphase simulate`: started on a
-- free port, driven through its control API (`/__sim/*`) over one
-- keep-alive connection, stopped at the end (and by itself, through
-- --watch-pid, should this process die first).
local compat = require("enphase.util.compat")
local lab_child = require("enphase.lab.child")
local socket = require("socket")
local json = require("enphase.util.json")
local cjson = require("cjson.safe")
local sys = require("enphase.lab.sys")

local M = {}

local Sim = {}
Sim.__index = Sim

--- Starts a simulator; `args` are extra `enphase sim` arguments. Returns
-- the simulator or nil and a message.
function M.start(args)
  -- the child's port and log files go in a folder of our own: a name
  -- mkstemp picked, turned into a folder (mode 0700) that must be ours and
  -- no link, so nobody can guess or plant the files
  local tmp = os.tmpname()
  os.remove(tmp)
  local made, merr = require("enphase.store").own_dir(tmp)
  if not made then
    return nil, "cannot make the simulator's temporary folder: " .. tostring(merr)
  end
  local portfile = tmp .. "/port"
  local stat = sys.read("/proc/self/stat")
  local argv = { "--port", "0", "--portfile", portfile, "--quiet" }
  local pid = stat and stat:match("^(%d+)")
  if pid then
    argv[#argv + 1] = "--watch-pid"
    argv[#argv + 1] = pid
  end
  for _, a in ipairs(args or {}) do
    argv[#argv + 1] = a
  end
  local lits = {}
  for i, a in ipairs(argv) do
    lits[i] = ("%q"):format(a)
  end
  local code = lab_child.paths_code()
    .. ('os.exit(require("enphase.sim.cli").main({%s}), true)'):format(table.concat(lits, ","))
  local cmd = ("exec %s -e %s >%s 2>&1 </dev/null & echo $!"):format(
    sys.quote(lab_child.interpreter()), sys.quote(code), sys.quote(tmp .. "/log"))
  local p = io.popen(cmd)
  local child = p and tonumber((p:read("*a") or ""):match("(%d+)"))
  if p then
    p:close()
  end
  if not child then
    os.remove(tmp)
    return nil, "could not start the simulator"
  end
  local self = setmetatable({ pid = child, portfile = portfile, logfile = tmp .. "/log",
                              tmpdir = tmp }, Sim)
  local deadline = socket.gettime() + 10
  while socket.gettime() < deadline do
    local text = sys.read(portfile)
    local port = text and tonumber(text:match("^(%d+)\n"))
    if port then
      self.port = port
      self.base_url = "http://127.0.0.1:" .. port
      return self
    end
    socket.sleep(0.01)
  end
  local out = sys.read(self.logfile) or ""
  self:stop()
  return nil, "the simulator did not start: " .. out
end

--- A simulator already listening on loopback `port` (started elsewhere:
-- stop() asks it to shut down, and kills nothing).
function M.connect(port)
  return setmetatable({ port = port, base_url = "http://127.0.0.1:" .. port }, Sim)
end

local function receive_response(sock)
  local line, err = sock:receive("*l")
  if not line then
    return nil, err
  end
  local status = tonumber(line:match("^HTTP/%d%.%d (%d%d%d)"))
  local length
  while true do
    local h, herr = sock:receive("*l")
    if not h then
      return nil, herr
    end
    if h == "" then
      break
    end
    local name, value = h:match("^([^:]+):%s*(.-)%s*$")
    if name and name:lower() == "content-length" then
      length = tonumber(value)
    end
  end
  local body = ""
  if length and length > 0 then
    body, err = sock:receive(length)
    if not body then
      return nil, err
    end
  end
  return status, body
end

-- One request on the keep-alive connection (made anew once when it
-- broke): the status and the body, or nil and a message.
local function exchange(self, method, path, payload)
  local request = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    .. "Content-Length: %d\r\n\r\n%s"):format(method, path, #payload, payload)
  for attempt = 1, 2 do
    if not self.sock then
      self.sock = socket.connect("127.0.0.1", self.port)
      if self.sock then
        self.sock:settimeout(60)
      end
    end
    if self.sock and self.sock:send(request) then
      local status, text = receive_response(self.sock)
      if status then
        return status, text
      end
    end
    if self.sock then
      self.sock:close()
      self.sock = nil
    end
    if attempt == 2 then
      break
    end
  end
  return nil, ("simulator %s %s: no answer"):format(method, path)
end

--- One control call: JSON in and out. Returns the decoded answer or nil
-- and a message. `plain`: decoded by lua-cjson as it is, without the
-- library's repairs (integers back, empty arrays): for bulk answers whose
-- numbers are all read as numbers.
function Sim:control(method, path, body, plain)
  local status, text = exchange(self, method, path, body ~= nil and json.encode(body) or "")
  if not status then
    return nil, text
  end
  local v
  if plain then
    v = cjson.decode(text)
  else
    v = json.decode(text)
  end
  if status ~= 200 or type(v) ~= "table" then
    return nil, ("simulator %s %s: %d %s"):format(method, path, status, text:sub(1, 200))
  end
  return v
end

--- One control call answered in plain text (GET /__sim/rows): the status
-- and the body, or nil and a message when there was no answer.
function Sim:text(method, path)
  return exchange(self, method, path, "")
end

--- The simulator's peak resident memory (KiB, VmHWM; Linux), or nil.
function Sim:peak_rss()
  local status = self.pid and sys.read(("/proc/%d/status"):format(self.pid))
  return status and tonumber(status:match("VmHWM:%s*(%d+)"))
end

--- The CPU seconds (user + system) the simulator used so far (Linux,
-- at 100 ticks a second), or nil.
function Sim:cpu_seconds()
  local stat = self.pid and sys.read(("/proc/%d/stat"):format(self.pid))
  local rest = stat and stat:match("%) (.*)")
  if not rest then
    return nil
  end
  local fields = {}
  for x in rest:gmatch("%S+") do
    fields[#fields + 1] = x
  end
  return (tonumber(fields[12]) + tonumber(fields[13])) / 100
end

--- Stops the simulator and removes its files.
function Sim:stop()
  if self.port then
    self:control("POST", "/__sim/shutdown", {})
  end
  if self.sock then
    self.sock:close()
    self.sock = nil
  end
  if self.pid then
    local stat_path = ("/proc/%d/stat"):format(self.pid)
    local function alive()
      local stat = sys.read(stat_path)
      return stat ~= nil and not stat:match("^%d+ %b() Z")
    end
    local deadline = socket.gettime() + 2
    while socket.gettime() < deadline and alive() do
      socket.sleep(0.01)
    end
    if alive() then
      compat.execute(("kill %d 2>/dev/null"):format(self.pid))
    end
    self.pid = nil
  end
  if self.tmpdir then
    os.remove(self.portfile)
    os.remove(self.logfile)
    os.remove(self.tmpdir)
  end
end

return M
