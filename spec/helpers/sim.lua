-- Start, drive and stop the Enlighten simulator from a spec.
--
--   local sim = require("helpers.sim").start{ args = { "--sites", "2" } }
--   sim.base_url                  "http://127.0.0.1:PORT"
--   start{ tls = {cert=, key=} }  also HTTPS: sim.https_port, sim.https_url
--                                 ("https://localhost:PORT")
--   sim:log([since]) sim:clear_log() sim:state() sim:reset()
--   sim:fault{...} sim:config{...} sim:clock(seconds) sim:account{...}
--   sim:storm_alert{...}
--   sim:revoke{jwt=, xsrf=, email=}  sim:refuse(seconds) sim:wait_listening()
--   sim:requests_matching(method, path_substring)
--   sim:request(method, path, {headers=, body=, timeout=}) -> response
--   sim:login(email, password) / sim:tokens(email, password) (plain HTTP)
--   sim:stop()
local socket = require("socket")
local json = require("enphase.sim.json")
local child = require("helpers.child")
local procs = require("helpers.procs")

local M = {}

local function dirname(p)
  return p:match("^(.*)/[^/]*$") or "."
end

-- The checkout: this file is spec/helpers/sim.lua.
local here = debug.getinfo(1, "S").source:match("^@(.*)$") or "spec/helpers/sim.lua"
M.ROOT = dirname(dirname(dirname(here)))
if M.ROOT == "" then
  M.ROOT = "."
end

local shell_quote = procs.shell_quote
M.shell_quote = shell_quote

--- The shell command that runs the simulator with `args` (from the checkout
-- root). The one place to choose how: straight through enphase.sim.cli (works
-- whatever state enphase.cli is in), or through bin/enphase when
-- ENPHASE_SIM_VIA_BIN=1; under the Lua under test (helpers.child).
-- The simulator is plain Lua: a sanitizer runtime preloaded into the test
-- run (scripts/test.sh's ASan pass) is kept out of it, so it neither slows
-- it down nor reports the interpreter's own allocations.
function M.command_line(args)
  local quoted = {}
  for i, a in ipairs(args) do
    quoted[i] = shell_quote(a)
  end
  if os.getenv("ENPHASE_SIM_VIA_BIN") == "1" then
    return "exec env -u LD_PRELOAD " .. child.enphase .. " sim " .. table.concat(quoted, " ")
  end
  local lits = {}
  for i, a in ipairs(args) do
    lits[i] = string.format("%q", a)
  end
  local code = 'os.exit(require("enphase.sim.cli").main({' .. table.concat(lits, ",") .. "}), true)"
  return "exec env -u LD_PRELOAD " .. child.lua .. " -e "
    .. shell_quote('package.path="lua/?.lua;lua/?/init.lua;"..package.path')
    .. " -e " .. shell_quote(code)
end

local read_file = procs.slurp

-- Running (not gone, not a zombie waiting to be reaped by init).
local function alive(pid)
  local stat = read_file("/proc/" .. pid .. "/stat")
  if stat then
    return stat:match("^%d+ %b() (%a)") ~= "Z"
  end
  return os.execute("kill -0 " .. pid .. " 2>/dev/null") == true
end

local function run(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  return out
end



-- ------------------------------------------------------------ plain HTTP

--- Read one response from a connected socket. Returns a response table
-- {status, headers (lower-case names, repeated ones joined with ", "),
--  cookies (name -> value from Set-Cookie), set_cookies (raw list), body},
-- or nil and an error ("timeout", "closed", ...).
function M.read_response(sock, method)
  local status
  repeat
    local line, err = sock:receive("*l")
    if not line then
      return nil, err
    end
    status = tonumber(line:match("^HTTP/%d%.%d (%d%d%d)"))
    if not status then
      return nil, "bad status line: " .. line
    end
    local headers, set_cookies, cookies = {}, {}, {}
    while true do
      local h, herr = sock:receive("*l")
      if not h then
        return nil, herr
      end
      if h == "" then
        break
      end
      local name, value = h:match("^([^:]+):%s*(.-)%s*$")
      name = name:lower()
      if name == "set-cookie" then
        set_cookies[#set_cookies + 1] = value
        local cn, cv = value:match("^%s*([^=]+)=([^;]*)")
        if cn then
          cookies[cn] = cv
        end
      end
      headers[name] = headers[name] and (headers[name] .. ", " .. value) or value
    end
    if status ~= 100 then
      local body = ""
      local len = tonumber(headers["content-length"] or "")
      if method == "HEAD" or status == 204 or status == 304 then
        len = 0
      end
      if len then
        if len > 0 then
          local b, berr, partial = sock:receive(len)
          if not b then
            return nil, berr, partial
          end
          body = b
        end
      else
        local b, berr, partial = sock:receive("*a")
        body = b or partial
        if not b and berr ~= "closed" then
          return nil, berr
        end
      end
      return {
        status = status, headers = headers, set_cookies = set_cookies,
        cookies = cookies, body = body,
      }
    end
  until false
end

--- Build the bytes of a request. opts.headers: name -> value (or a list of
-- {name, value}); opts.body: string or table (sent as JSON);
-- opts.keep_alive: leave out "Connection: close".
function M.build_request(method, path, opts)
  opts = opts or {}
  local body = opts.body
  local hs = { { "Host", "127.0.0.1" } }
  if type(body) == "table" then
    body = json.encode(body)
    hs[#hs + 1] = { "Content-Type", "application/json" }
  end
  if opts.headers then
    if opts.headers[1] then
      for _, h in ipairs(opts.headers) do
        hs[#hs + 1] = h
      end
    else
      local names = {}
      for k in pairs(opts.headers) do
        names[#names + 1] = k
      end
      table.sort(names)
      for _, k in ipairs(names) do
        hs[#hs + 1] = { k, opts.headers[k] }
      end
    end
  end
  if body then
    hs[#hs + 1] = { "Content-Length", tostring(#body) }
  end
  if not opts.keep_alive then
    hs[#hs + 1] = { "Connection", "close" }
  end
  local out = { method .. " " .. path .. " HTTP/1.1\r\n" }
  for _, h in ipairs(hs) do
    out[#out + 1] = h[1] .. ": " .. tostring(h[2]) .. "\r\n"
  end
  out[#out + 1] = "\r\n"
  out[#out + 1] = body or ""
  return table.concat(out)
end

--- One request on a new connection. Returns the response, or nil and an
-- error. opts as build_request plus timeout (seconds, default 5) and host
-- (default 127.0.0.1).
function M.http(port, method, path, opts)
  opts = opts or {}
  local sock = socket.tcp()
  sock:settimeout(opts.timeout or 5)
  local ok, err = sock:connect(opts.host or "127.0.0.1", port)
  if not ok then
    sock:close()
    return nil, err
  end
  local req_opts = {}
  for k, v in pairs(opts) do
    req_opts[k] = v
  end
  req_opts.keep_alive = false
  req_opts.host = nil
  local sent, serr = sock:send(M.build_request(method, path, req_opts))
  if not sent then
    sock:close()
    return nil, serr
  end
  local res, rerr, partial = M.read_response(sock, method)
  sock:close()
  return res, rerr, partial
end

-- ------------------------------------------------------------ the object

local Sim = {}
Sim.__index = Sim

--- Start a simulator. opts.args: extra command-line arguments (a --host
-- there is where the helper talks to it too); opts.tls:
-- {cert=, key=} (PEM files) to serve HTTPS as well, on opts.tls.port or any
-- free port.
function M.start(opts)
  opts = opts or {}
  local dir = run("mktemp -d /tmp/enphase-sim.XXXXXX"):gsub("%s+$", "")
  assert(dir ~= "", "mktemp failed")
  local portfile = dir .. "/port"
  local args = { "--port", "0", "--portfile", portfile, "--quiet" }
  -- the simulator stops by itself if this test process dies without stop()
  local self_stat = read_file("/proc/self/stat")
  local my_pid = self_stat and self_stat:match("^(%d+)")
  if my_pid then
    args[#args + 1] = "--watch-pid"
    args[#args + 1] = my_pid
  end
  for _, a in ipairs(opts.args or {}) do
    args[#args + 1] = a
  end
  if opts.tls then
    for _, a in ipairs({ "--tls-cert", opts.tls.cert, "--tls-key", opts.tls.key,
                         "--tls-port", tostring(opts.tls.port or 0) }) do
      args[#args + 1] = a
    end
  end
  local cmd = "cd " .. shell_quote(M.ROOT) .. " && { " .. M.command_line(args) .. " ; } >"
    .. shell_quote(dir .. "/output.log") .. " 2>&1 </dev/null & echo $!"
  local pid = tonumber(run(cmd):match("(%d+)"))
  assert(pid, "could not start the simulator: " .. cmd)
  local host = "127.0.0.1"
  for i, a in ipairs(opts.args or {}) do
    if a == "--host" then
      host = opts.args[i + 1]
    end
  end
  local self = setmetatable({ pid = pid, dir = dir, portfile = portfile, host = host }, Sim)
  local deadline = socket.gettime() + (opts.wait or 10)
  while socket.gettime() < deadline do
    local text = read_file(portfile)
    local port = text and tonumber(text:match("^(%d+)\n"))
    if port then
      self.port = port
      self.base_url = "http://" .. host .. ":" .. port
      if opts.tls then
        self.https_port = tonumber(text:match("^%d+\n(%d+)\n"))
        self.https_url = "https://localhost:" .. tostring(self.https_port)
      end
      return self
    end
    if not alive(pid) then
      break
    end
    socket.sleep(0.02)
  end
  local output = read_file(dir .. "/output.log") or ""
  self:kill()
  error("the simulator did not start: " .. output, 2)
end

function Sim:kill()
  if self.pid and alive(self.pid) then
    os.execute("kill " .. self.pid .. " 2>/dev/null")
  end
  if self.dir then
    os.execute("rm -rf " .. shell_quote(self.dir))
    self.dir = nil
  end
end

--- Graceful stop through /__sim/shutdown, then kill if still running, and
-- remove the temporary files.
function Sim:stop()
  if self.port then
    M.http(self.port, "POST", "/__sim/shutdown", { timeout = 2, body = "{}", host = self.host })
    local deadline = socket.gettime() + 3
    while alive(self.pid) and socket.gettime() < deadline do
      socket.sleep(0.02)
    end
  end
  self:kill()
  self.port = nil
end

--- The simulator's output (stdout and stderr) so far.
function Sim:output()
  return self.dir and read_file(self.dir .. "/output.log") or ""
end

function Sim:request(method, path, opts)
  if self.host ~= "127.0.0.1" then
    local o = { host = self.host }
    for k, v in pairs(opts or {}) do
      o[k] = v
    end
    opts = o
  end
  return M.http(self.port, method, path, opts)
end

--- A control call: JSON in, decoded JSON out; raises on any failure.
function Sim:control(method, path, body)
  local res, err = M.http(self.port, method, path, {
    host = self.host,
    timeout = 5,
    body = body ~= nil and json.encode(body) or (method == "POST" and "{}" or nil),
    headers = { ["Content-Type"] = "application/json" },
  })
  if not res then
    error("simulator control " .. path .. ": " .. tostring(err), 2)
  end
  local v = json.decode(res.body)
  if res.status ~= 200 or v == nil then
    error("simulator control " .. path .. ": " .. res.status .. " " .. res.body, 2)
  end
  return v
end

function Sim:log(since)
  return self:control("GET", since and ("/__sim/log?since=" .. since) or "/__sim/log")
end

function Sim:clear_log()
  return self:control("POST", "/__sim/log/clear")
end

function Sim:state()
  return self:control("GET", "/__sim/state")
end

function Sim:reset()
  return self:control("POST", "/__sim/reset")
end

function Sim:fault(tbl)
  return self:control("POST", "/__sim/fault", tbl)
end

function Sim:config(tbl)
  return self:control("POST", "/__sim/config", tbl)
end

function Sim:clock(advance)
  return self:control("POST", "/__sim/clock", { advance = advance })
end

function Sim:account(tbl)
  return self:control("POST", "/__sim/account", tbl)
end

--- Add a storm alert ({email?, id?, name?, critical?, status?, start?, duration?}),
-- or remove them all ({clear=true}).
function Sim:storm_alert(tbl)
  return self:control("POST", "/__sim/storm_alert", tbl or {})
end

--- The one-time code last sent to an mfa account: {code=, sent=, wrong=, blocked=}.
function Sim:otp(email)
  return self:control("GET", "/__sim/otp?email=" .. email:gsub("[^%w%.%-_]", function(c)
    return ("%%%02X"):format(c:byte())
  end))
end

function Sim:clear_sessions(email)
  return self:control("POST", "/__sim/sessions/clear", { email = email })
end

--- Forget issued JWTs and/or XSRF tokens: {jwt=true, xsrf=true, email=}.
function Sim:revoke(tbl)
  return self:control("POST", "/__sim/tokens/revoke", tbl or {})
end

--- Refuse connections for `seconds` (the listening socket is closed).
-- Returns at once; see wait_listening().
function Sim:refuse(seconds)
  return self:control("POST", "/__sim/refuse", { seconds = seconds })
end

--- Wait until the simulator accepts connections again (at most `timeout`
-- seconds, default 5). Returns true, or raises.
function Sim:wait_listening(timeout)
  local deadline = socket.gettime() + (timeout or 5)
  repeat
    local sock = socket.tcp()
    sock:settimeout(0.5)
    local ok = sock:connect(self.host, self.port)
    sock:close()
    if ok then
      return true
    end
    socket.sleep(0.02)
  until socket.gettime() > deadline
  error("the simulator did not listen again", 2)
end

--- Log entries whose method is `method` (nil: any) and whose path contains
-- `path_substring` (plain).
function Sim:requests_matching(method, path_substring)
  local out = {}
  for _, e in ipairs(self:log()) do
    if (method == nil or e.method == method)
      and (path_substring == nil or e.path:find(path_substring, 1, true)) then
      out[#out + 1] = e
    end
  end
  return out
end

local function cookie_header(jar)
  local names = {}
  for k in pairs(jar) do
    names[#names + 1] = k
  end
  table.sort(names)
  local parts = {}
  for _, k in ipairs(names) do
    parts[#parts + 1] = k .. "=" .. jar[k]
  end
  return table.concat(parts, "; ")
end
M.cookie_header = cookie_header

--- The seed's web login over plain HTTP. Returns {cookies (jar), jwt,
-- site_id, user_id}, or nil and the failing response.
function Sim:login(email, password)
  email = email or "demo@example.com"
  password = password or "demo-password"
  local jar = {}
  local function req(method, path, opts)
    opts = opts or {}
    opts.headers = opts.headers or {}
    if next(jar) then
      opts.headers.Cookie = cookie_header(jar)
    end
    local res = assert(self:request(method, path, opts))
    for k, v in pairs(res.cookies) do
      jar[k] = v
    end
    return res
  end
  local page = req("GET", "/login")
  local token = page.body:match('name="authenticity_token" value="([^"]*)"')
  if not token then
    return nil, page
  end
  local form = "utf8=%E2%9C%93&authenticity_token=" .. token .. "&user%5Bemail%5D="
    .. email:gsub("[^%w]", function(c) return string.format("%%%02X", c:byte()) end)
    .. "&user%5Bpassword%5D="
    .. password:gsub("[^%w]", function(c) return string.format("%%%02X", c:byte()) end)
  local res = req("POST", "/login/login", { body = form,
    headers = { ["Content-Type"] = "application/x-www-form-urlencoded" } })
  if res.status ~= 302 or res.headers.location ~= "/" then
    return nil, res
  end
  local root = req("GET", "/")
  local site_id = tonumber((root.headers.location or ""):match("/web/(%d+)/"))
  local jres = req("GET", "/app-api/jwt_token.json")
  local t = json.decode(jres.body)
  if not (t and t.token) then
    return nil, jres
  end
  local data = json.decode(req("GET", string.format("/app-api/%d/data.json", site_id)).body)
  return { cookies = jar, jwt = t.token, site_id = site_id, user_id = data.app.userId }
end

--- login() plus the seed's XSRF dance (isValid without a token -> 403 with a
-- BP-XSRF-Token cookie). Returns {jwt, xsrf, site_id, user_id, cookies}.
function Sim:tokens(email, password)
  local t, res = self:login(email, password)
  if not t then
    return nil, res
  end
  local r = self:bc(t, "POST", string.format("/battery/sites/%d/schedules/isValid", t.site_id),
    { scheduleType = "dtg" })
  t.xsrf = r.cookies["BP-XSRF-Token"]
  return t
end

--- A battery-API request with the tokens' headers (e-auth-token, username,
-- x-xsrf-token and the BP-XSRF-Token cookie when t.xsrf is set). `path` is
-- below /service/batteryConfig/api/v1. extra: more headers.
function Sim:bc(t, method, path, body, extra)
  local headers = {
    ["content-type"] = "application/json",
    ["e-auth-token"] = t.jwt,
    username = string.format("%d", t.user_id),
    origin = "https://battery-profile-ui.enphaseenergy.com",
    referer = "https://battery-profile-ui.enphaseenergy.com/",
  }
  if t.xsrf then
    headers["x-xsrf-token"] = t.xsrf
    headers.cookie = "BP-XSRF-Token=" .. t.xsrf
  end
  for k, v in pairs(extra or {}) do
    headers[k] = v or nil
  end
  if type(body) == "table" then
    body = json.encode(body)
  end
  return assert(self:request(method, "/service/batteryConfig/api/v1" .. path,
    { headers = headers, body = body }))
end

--- One simulator for a spec file (or a describe block): started before its
-- first test, reset before each, stopped after the last. `env` is the spec's
-- environment (`_ENV`), where busted put setup, teardown and before_each.
-- Returns a stand-in whose fields and methods are those of the running
-- simulator (`sim.base_url`, `sim:log()` ...).
function M.for_file(env, opts)
  -- Lua 5.1 has no _ENV: the caller's environment
  env = env or rawget(_G, "getfenv")(2)
  local real
  env.setup(function()
    real = M.start(opts)
  end)
  env.teardown(function()
    real:stop()
  end)
  env.before_each(function()
    real:reset()
  end)
  return setmetatable({}, {
    __index = function(_, key)
      local value = real[key]
      if type(value) == "function" then
        return function(_, ...)
          return value(real, ...)
        end
      end
      return value
    end,
  })
end

return M
