--- Checks and completes the options of `enphase.new`.
-- Returns a new table (the caller's is never changed) or `nil, message`.
local compat = require("enphase.util.compat")

-- A value named in an error message (redact.lua: loaded only then).
local function quote(v)
  return require("enphase.util.redact").quote(v)
end

local M = {}

M.DEFAULT_BASE_URL = "https://enlighten.enphaseenergy.com"
M.DEFAULT_USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
  .. "(KHTML, like Gecko) Chrome/122.0 Safari/537.36"

local defaults = {
  base_url = M.DEFAULT_BASE_URL,
  user_agent = M.DEFAULT_USER_AGENT,
  timeout = 30,
  connect_timeout = 10,
  refresh_margin = 3600,
  verify_tls = true,
  max_body = 4 * 1024 * 1024,
  -- The seed's delays (seconds).
  validate_delay = 1,
  toggle_delete_delay = 2.5,
  delete_spacing = 2,
  -- Retry policy.
  attempts = 3,
  backoff = 1,
  max_backoff = 30,
  max_retry_after = 120,
  -- Polling of pending schedule writes.
  pending_checks = 10,
  pending_interval = 3,
  -- Waiting for a pending profile change (the other client gives up at 900 s).
  profile_wait = 900,
  profile_interval = 60,
  -- The lock-out guard (lockout.lua) and the request budget (budget.lua).
  login_cooldown = 300,
  login_refusals = 3,
  refusals_pause = 86400,
  locked_pause = 86400,
  login_reuse = 30,
  budget = 600,
  budget_window = 3600,
  -- Slow-changing reads answered from the ledger while younger (0: never).
  max_age = 0,
  -- The least important level passed to `log` (util/log.lua).
  log_level = "debug",
}

-- Every option and what it may be: a kind, and for numbers a range (in
-- seconds for durations). The only place options are checked: the C module
-- takes them as they come from here.
local DAY = 86400
local known = {
  email = { "text" }, password = { "secret" }, base_url = { "string" },
  site_id = { "id" }, user_id = { "id" },
  timeout = { "number", 0, DAY, open = true }, connect_timeout = { "number", 0, DAY, open = true },
  ca_file = { "path" }, verify_tls = { "boolean" }, refresh_margin = { "number", 0, 30 * DAY },
  user_agent = { "text" }, max_body = { "integer", 1, 1024 * 1024 * 1024 },
  sleep = { "function" }, clock = { "function" }, log = { "function" }, random = { "function" },
  validate_delay = { "number", 0, DAY }, toggle_delete_delay = { "number", 0, DAY },
  delete_spacing = { "number", 0, DAY }, attempts = { "integer", 1, 100 },
  backoff = { "number", 0, DAY }, max_backoff = { "number", 0, DAY },
  max_retry_after = { "number", 0, DAY }, pending_checks = { "integer", 0, 10000 },
  pending_interval = { "number", 0, DAY }, timezone = { "timezone" }, token_cache = { "path" },
  profile_wait = { "number", 0, DAY }, profile_interval = { "number", 0, DAY },
  login_cooldown = { "number", 0, 30 * DAY }, login_refusals = { "integer", 1, 100 },
  refusals_pause = { "number", 0, 365 * DAY }, locked_pause = { "number", 0, 365 * DAY },
  login_reuse = { "number", 0, DAY }, budget = { "integer", 1, 1000000000 },
  budget_window = { "number", 0, 30 * DAY, open = true }, max_age = { "number", 0, 30 * DAY },
  dry_run = { "boolean" }, log_level = { "level" },
}
--- Every option's kind and range, for specs and docs (do not change).
M.KNOWN = known

--- Turns 5652514, 5652514.0 or "5652514" into the integer 5652514 (a
-- positive integer that a double holds exactly), or nil.
function M.to_id(v)
  local n
  if type(v) == "string" and v:match("^%d+$") and #v <= 16 then
    n = compat.tointeger(tonumber(v))
  elseif type(v) == "number" then
    n = compat.tointeger(v)
  end
  if n and n > 0 and n <= 2 ^ 53 then
    return n
  end
  return nil
end

local function finite(v)
  return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge
end

local function range_text(lo, hi, open)
  return ("%s %s and at most %s"):format(open and "greater than" or "at least",
    ("%.14g"):format(lo), ("%.14g"):format(hi))
end

local checkers = {
  string = function(v)
    return type(v) == "string", "a string"
  end,
  -- one line of printable text (it goes into a form or a header)
  text = function(v)
    return type(v) == "string" and #v <= 1024 and not v:find("%c"),
      "a string of at most 1024 bytes without control characters"
  end,
  secret = function(v)
    return type(v) == "string" and #v <= 1024 and not v:find("\0", 1, true),
      "a string of at most 1024 bytes"
  end,
  boolean = function(v)
    return type(v) == "boolean", "true or false"
  end,
  ["function"] = function(v)
    return type(v) == "function", "a function"
  end,
  number = function(v, spec)
    local lo, hi, open = spec[2], spec[3], spec.open
    local ok = finite(v) and v <= hi and (v > lo or (not open and v == lo))
    return ok, "a number " .. range_text(lo, hi, open)
  end,
  integer = function(v, spec)
    local n = type(v) == "number" and compat.tointeger(v)
    return n and n >= spec[2] and n <= spec[3], "an integer " .. range_text(spec[2], spec[3])
  end,
  id = function(v)
    return M.to_id(v) ~= nil, "a positive integer (digits only)"
  end,
  path = function(v)
    return type(v) == "string" and v ~= "" and #v <= 4096 and not v:find("\0", 1, true)
      and v:sub(-1) ~= "/", "a file path (a non-empty string)"
  end,
  level = function(v)
    return v == "debug" or v == "info" or v == "warn", '"debug", "info" or "warn"'
  end,
  timezone = function(v)
    return require("enphase.battery.validate").timezone("timezone", v) ~= nil,
      'an IANA time zone name such as "Europe/London" or "UTC"'
  end,
}

--- The parts of an http(s) base URL: scheme, host (lower case, IPv6
-- without brackets), port (or nil). Nil for anything else: user info,
-- a query or fragment, characters a URL cannot hold, a port out of range.
function M.parse_base_url(url)
  if #url > 2048 then
    return nil
  end
  local scheme, authority, path = url:match("^(%a+)://([^/]*)(.*)$")
  scheme = scheme and scheme:lower()
  if scheme ~= "http" and scheme ~= "https" then
    return nil
  end
  if path ~= "" and not path:match("^/[%w%-%._~/%%!$&'()*+,;=:]*$") then
    return nil
  end
  local host, port = authority:match("^%[([%x:%.]+)%]:?(%d*)$")
  if host then
    if not host:find(":", 1, true) then
      return nil
    end
  else
    host, port = authority:match("^([%w%-%._]+):?(%d*)$")
    if not host or host:match("^[%.%-]") or host:find("..", 1, true) then
      return nil
    end
  end
  if authority:sub(-1) == ":" then
    return nil
  end
  local n = port ~= "" and tonumber(port) or nil
  if n and (n < 1 or n > 65535) then
    return nil
  end
  return scheme, host:lower(), n
end

--- True for 127.0.0.0/8, ::1 and localhost.
function M.is_loopback(host)
  return host == "localhost" or host == "::1" or host:match("^127%.%d+%.%d+%.%d+$") ~= nil
end

function M.check(opts)
  if type(opts) ~= "table" then
    return nil, "options must be a table with at least email and password"
  end
  for key, value in pairs(opts) do
    local spec = known[key]
    if not spec then
      return nil, ("unknown option %s"):format(quote(key))
    end
    local ok, wanted = checkers[spec[1]](value, spec)
    if not ok then
      return nil, ("option %s must be %s (got %s)"):format(key, wanted,
        spec[1] == "secret" and type(value) or quote(value))
    end
  end
  for _, key in ipairs({ "email", "password" }) do
    if opts[key] == nil or opts[key] == "" then
      return nil, string.format("option %s is required (a non-empty string)", key)
    end
  end
  local cfg = {}
  for key, value in pairs(defaults) do
    cfg[key] = value
  end
  for key, value in pairs(opts) do
    cfg[key] = value
  end
  cfg.budget = compat.tointeger(cfg.budget)
  cfg.login_refusals = compat.tointeger(cfg.login_refusals)
  cfg.site_id = opts.site_id and M.to_id(opts.site_id)
  cfg.user_id = opts.user_id and M.to_id(opts.user_id)
  cfg.base_url = cfg.base_url:gsub("/+$", "")
  local scheme, host = M.parse_base_url(cfg.base_url)
  if not scheme then
    return nil, ("option base_url must be an http:// or https:// URL: a host, an optional port "
      .. "and path, no user name, query or fragment (got %s)"):format(quote(cfg.base_url))
  end
  if scheme ~= "https" and not M.is_loopback(host) then
    return nil, "option base_url must use https:// (plain http:// is allowed only for "
      .. "127.0.0.1, ::1 or localhost): credentials are never sent in clear text"
  end
  if cfg.verify_tls == false and not M.is_loopback(host) then
    return nil, "option verify_tls=false is allowed only for a loopback base_url"
  end
  cfg.host = host
  return cfg
end

return M
