-- `enphase sim`: parse the command line, start the simulator, serve until
-- POST /__sim/shutdown (or a signal: without lua-posix the default action of
-- SIGTERM/SIGINT ends the process; nothing is ever half-written because the
-- port file is written to FILE.tmp and renamed into place).
local compat = require("enphase.util.compat")
local app_mod = require("enphase.sim.app")
local server_mod = require("enphase.sim.server")
local state_mod = require("enphase.sim.state")

local M = {}

M.USAGE = [[
usage: enphase sim [options]

Run the Enlighten cloud simulator (web login, JWT, battery API) on HTTP,
and also on HTTPS when given a certificate and its key.

  --port N             TCP port (default 8087; 0 picks a free port)
  --host ADDR          address to listen on (default 127.0.0.1)
  --portfile FILE      once listening, write the port number to FILE (and
                       the HTTPS port on a second line when serving HTTPS)
  --tls-cert FILE      PEM certificate (chain) for HTTPS; needs --tls-key
  --tls-key FILE       PEM private key of --tls-cert
  --tls-port N         HTTPS port (default 0: any free port)
  --email E            account e-mail (default demo@example.com)
  --password P         account password (default demo-password)
  --site-id N          site (battery) id (default 5652514)
  --user-id N          user id (default 4980363)
  --timezone TZ        account time zone (default Europe/London)
  --sites N            N extra accounts user<i>@example.com / password<i>,
                       site 1000000+i, user 2000000+i (at most 10000)
  --jwt-ttl SECONDS    JWT lifetime (default 86400)
  --validate-window S  how long an isValid call enables PUTs (default 30)
  --pending-seconds S  how long schedule/profile changes stay pending (default 0)
  --watch-pid PID      stop when process PID is gone (checked every second
                       through /proc; test helpers pass their own pid)
  --quiet              print nothing on start
  --help               show this help

Control API (JSON): GET /__sim/log, POST /__sim/log/clear, GET /__sim/state,
POST /__sim/reset, /__sim/fault, /__sim/config, /__sim/clock, /__sim/account,
/__sim/sessions/clear, /__sim/shutdown. GET|POST /__sim/house: the simulated
house behind the telemetry (its 15-minute buckets; its load, PV and tariff CSV
and battery); POST /__sim/clock {"advance":S} runs it forward.
]]

local VALUE_OPTS = {
  port = "int", host = "string", portfile = "string", email = "string",
  password = "string", ["site-id"] = "int", ["user-id"] = "int", timezone = "string",
  sites = "int", ["jwt-ttl"] = "number", ["validate-window"] = "number",
  ["pending-seconds"] = "number", ["watch-pid"] = "int",
  ["tls-cert"] = "string", ["tls-key"] = "string", ["tls-port"] = "int",
}

--- The most extra accounts `--sites` creates.
M.MAX_SITES = 10000

--- Parse arguments. Returns an options table, or nil and a message.
function M.parse(args)
  local o = {}
  local i = 1
  while i <= #args do
    local a = args[i]
    local name, value = a:match("^%-%-([%w%-]+)=(.*)$")
    if not name then
      name = a:match("^%-%-([%w%-]+)$")
    end
    if not name then
      return nil, "unexpected argument: " .. a
    end
    if name == "help" or name == "quiet" then
      o[name] = true
    else
      local kind = VALUE_OPTS[name]
      if not kind then
        return nil, "unknown option --" .. name
      end
      if value == nil then
        i = i + 1
        value = args[i]
        if value == nil then
          return nil, "--" .. name .. " needs a value"
        end
      end
      if kind ~= "string" then
        local n = tonumber(value)
        if kind == "int" then
          n = n and compat.tointeger(n)
        end
        if not n or n < 0 then
          return nil, "--" .. name .. " needs a non-negative " .. (kind == "int" and "integer" or "number")
        end
        value = n
      end
      o[name] = value
    end
    i = i + 1
  end
  if o.sites and o.sites > M.MAX_SITES then
    return nil, ("--sites must be at most %d (each account holds sessions, schedules and a "
      .. "log)"):format(M.MAX_SITES)
  end
  if o.port and o.port > 65535 then
    return nil, "--port must be 0..65535"
  end
  if o["tls-port"] and o["tls-port"] > 65535 then
    return nil, "--tls-port must be 0..65535"
  end
  if (o["tls-cert"] == nil) ~= (o["tls-key"] == nil) then
    return nil, "--tls-cert and --tls-key go together"
  end
  if o["tls-port"] and not o["tls-cert"] then
    return nil, "--tls-port needs --tls-cert and --tls-key"
  end
  return o
end

--- The account list described by the options.
function M.accounts(o)
  local d = state_mod.DEFAULT_ACCOUNT
  local list = { {
    email = o.email or d.email,
    password = o.password or d.password,
    site_id = o["site-id"] or d.site_id,
    user_id = o["user-id"] or d.user_id,
    timezone = o.timezone or d.timezone,
  } }
  for i = 1, o.sites or 0 do
    list[#list + 1] = {
      email = string.format("user%d@example.com", i),
      password = string.format("password%d", i),
      site_id = 1000000 + i,
      user_id = 2000000 + i,
      timezone = o.timezone or d.timezone,
    }
  end
  return list
end

local function write_portfile(path, port, tls_port)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "w")
  if not f then
    return nil, err
  end
  f:write(string.format("%d\n", port))
  if tls_port then
    f:write(string.format("%d\n", tls_port))
  end
  f:close()
  local ok, rerr = os.rename(tmp, path)
  if not ok then
    os.remove(tmp)
    return nil, rerr
  end
  return true
end

--- Entry point: `args` are the arguments after `sim`. Returns an exit code.
function M.main(args)
  local o, err = M.parse(args or {})
  if not o then
    io.stderr:write("enphase sim: ", require("enphase.util.redact").scrub(err), "\n",
      "try: enphase sim --help\n")
    return 2
  end
  if o.help then
    io.stdout:write(M.USAGE)
    return 0
  end
  local app = app_mod.new({
    accounts = M.accounts(o),
    jwt_ttl = o["jwt-ttl"],
    validate_window = o["validate-window"],
    pending_seconds = o["pending-seconds"],
  })
  local tls
  if o["tls-cert"] then
    tls = { certificate = o["tls-cert"], key = o["tls-key"], port = o["tls-port"] or 0 }
  end
  local server = server_mod.new({
    host = o.host or "127.0.0.1",
    port = o.port or 8087,
    tls = tls,
    handler = function(req, conn)
      return app:handle(req, conn)
    end,
    on_log = function(msg)
      io.stderr:write("enphase sim: ", msg, "\n")
    end,
  })
  app.server = server
  local port, lerr = server:listen()
  if not port then
    io.stderr:write("enphase sim: ", lerr, "\n")
    return 1
  end
  if o.portfile then
    local ok, perr = write_portfile(o.portfile, port, server.tls_port)
    if not ok then
      io.stderr:write("enphase sim: cannot write port file: ", tostring(perr), "\n")
      return 1
    end
  end
  if not o.quiet then
    io.stdout:write(string.format("enphase sim: listening on http://%s:%d\n", server.host, port))
    if server.tls_port then
      io.stdout:write(string.format("enphase sim: listening on https://%s:%d\n", server.host,
        server.tls_port))
    end
    io.stdout:flush()
  end
  local watched = o["watch-pid"]
  if watched then
    local function check()
      local f = io.open(string.format("/proc/%d/stat", watched))
      if f then
        local stat = f:read("*a") or ""
        f:close()
        if stat:match("^%d+ %b() (%a)") ~= "Z" then
          server:after(1, check)
          return
        end
      end
      io.stderr:write(string.format("enphase sim: process %d is gone, stopping\n", watched))
      server:stop()
    end
    server:after(1, check)
  end
  server:run()
  if o.portfile then
    os.remove(o.portfile)
  end
  return 0
end

return M
