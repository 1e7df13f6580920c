--- The bridge's own options (`enphase mqtt`), checked before anything
-- connects: the broker URL, topic prefixes, the poll, the client id and the
-- share of the account's request budget the polls may take.
--
-- Every failure is `nil, message` naming the option and what it accepts;
-- the broker password is never an option (ENPHASE_MQTT_PASSWORD only).
local redact = require("enphase.util.redact")

local M = {}

M.DEFAULTS = {
  prefix = "enphase",
  discovery_prefix = "homeassistant",
  poll = 60,
  budget_share = 50, -- percent of the account's budget the polls may use
  keepalive = 60,
}

--- The shortest poll accepted (seconds): Enlighten's own data moves every
-- few minutes; faster polls only spend the budget.
M.MIN_POLL = 10

-- A topic level: what MQTT allows in a topic, without the wildcards and the
-- level separator (a prefix may have several levels: "home/enphase").
local function check_prefix(name, v)
  if type(v) ~= "string" or v == "" or #v > 100 or v:find("[#+%z%c]") or v:find("^/")
      or v:find("/$") or v:find("//") then
    return nil, ("--%s must be a topic such as %q: no '#', '+', control characters, leading, "
      .. "trailing or double '/' (got %s)"):format(name, M.DEFAULTS[name:gsub("-", "_")],
      redact.quote(v))
  end
  return v
end

--- Parses `mqtt://[user@]host[:port]` or `mqtts://...`. Returns
-- `{tls=, user=, host=, port=}` or `nil, message`. A password in the URL is
-- refused (it would sit in argv): ENPHASE_MQTT_PASSWORD holds it.
function M.parse_broker(url)
  if type(url) ~= "string" or url == "" then
    return nil, "--broker needs a URL such as mqtt://localhost or mqtts://user@host:8883"
  end
  local scheme, rest = url:match("^(%a+)://(.+)$")
  if not scheme or (scheme ~= "mqtt" and scheme ~= "mqtts") then
    return nil, ("--broker must start with mqtt:// or mqtts:// (got %s)"):format(
      redact.quote(url:match("^[^@]*") or url))
  end
  local user, hostport = rest:match("^([^@/]*)@([^@]+)$")
  if not user then
    hostport = rest
  end
  if user and user:find(":") then
    return nil, "--broker: no password in the URL (it would show in the process list); "
      .. "set ENPHASE_MQTT_PASSWORD in the environment or the --config file"
  end
  if user == "" then
    return nil, "--broker: the user name before '@' is empty"
  end
  hostport = hostport:gsub("/$", "")
  local host, port = hostport:match("^%[([%x:]+)%]:?(%d*)$")
  if not host then
    host, port = hostport:match("^([%w%.%-]+):?(%d*)$")
  end
  if not host or host == "" then
    return nil, ("--broker: expected host or host:port after %s:// (got %s)"):format(scheme,
      redact.quote(hostport))
  end
  local n = port ~= "" and tonumber(port) or (scheme == "mqtts" and 8883 or 1883)
  if not n or n < 1 or n > 65535 then
    return nil, ("--broker: the port must be 1-65535 (got %s)"):format(port)
  end
  return { tls = scheme == "mqtts", user = user, host = host, port = n }
end

local function number_option(name, text, lo, hi)
  local n = tonumber(text)
  if not n or n ~= n or n < lo or n > hi then
    return nil, ("--%s must be a number from %s to %s (got %s)"):format(name, lo, hi,
      redact.quote(text))
  end
  return n
end

--- The bridge settings from the parsed command-line options (strings) and
-- the broker password (or nil). Returns the settings or `nil, message`.
function M.check(o, password)
  local s = {}
  for k, v in pairs(M.DEFAULTS) do
    s[k] = v
  end
  if not o.broker then
    return nil, "--broker is required (mqtt://[user@]host[:port] or mqtts://...)"
  end
  local broker, err = M.parse_broker(o.broker)
  if not broker then
    return nil, err
  end
  s.broker = broker
  if broker.tls and not o["ca-file"] then
    return nil, "mqtts:// needs --ca-file PEM (the CA that signed the broker's certificate)"
  elseif o["ca-file"] and not broker.tls then
    return nil, "--ca-file goes with an mqtts:// broker"
  end
  s.ca_file = o["ca-file"]
  for _, name in ipairs({ "prefix", "discovery-prefix" }) do
    if o[name] then
      local v, perr = check_prefix(name, o[name])
      if not v then
        return nil, perr
      end
      s[name:gsub("-", "_")] = v
    end
  end
  if s.prefix == s.discovery_prefix then
    return nil, "--prefix and --discovery-prefix must differ"
  end
  if o.poll then
    s.poll, err = number_option("poll", o.poll, M.MIN_POLL, 86400)
    if not s.poll then
      return nil, err
    end
  end
  if o["budget-share"] then
    s.budget_share, err = number_option("budget-share", o["budget-share"], 1, 100)
    if not s.budget_share then
      return nil, err
    end
  end
  if o["client-id"] then
    local id = o["client-id"]
    if id == "" or #id > 64 or id:find("[%z%c%s#+/]") then
      return nil, ("--client-id must be 1-64 characters without spaces, '/', '#' or '+' (got %s)")
        :format(redact.quote(id))
    end
    s.client_id = id
  end
  if password ~= nil and (type(password) ~= "string" or password == "") then
    return nil, "ENPHASE_MQTT_PASSWORD is empty"
  end
  if password and not broker.user then
    return nil, "ENPHASE_MQTT_PASSWORD is set but --broker names no user (mqtt://USER@host)"
  end
  s.password = password
  return s
end

return M
