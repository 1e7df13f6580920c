--- Checks and completes the options of `enphase.new`.
-- Returns a new table (the caller's is never changed) or `nil, message`.
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
}

local known = {
  email = "string", password = "string", base_url = "string",
  site_id = "id", user_id = "id", timeout = "positive", connect_timeout = "positive",
  ca_file = "string", verify_tls = "boolean", refresh_margin = "nonnegative",
  user_agent = "string", max_body = "positive", sleep = "function",
  clock = "function", log = "function", random = "function",
  validate_delay = "nonnegative", toggle_delete_delay = "nonnegative",
  delete_spacing = "nonnegative", attempts = "positive", backoff = "nonnegative",
  max_backoff = "nonnegative", max_retry_after = "nonnegative",
  pending_checks = "nonnegative", pending_interval = "nonnegative",
  timezone = "string", token_cache = "path",
}

local function describe_value(v)
  if type(v) == "string" then
    return string.format("%q", v)
  end
  return tostring(v)
end

--- Turns 5652514, 5652514.0 or "5652514" into the integer 5652514.
function M.to_id(v)
  if type(v) == "string" and v:match("^%d+$") and #v <= 18 then
    return math.tointeger(tonumber(v))
  elseif type(v) == "number" then
    local n = math.tointeger(v)
    if n and n > 0 then
      return n
    end
  end
  return nil
end

local checkers = {
  string = function(v)
    return type(v) == "string", "a string"
  end,
  boolean = function(v)
    return type(v) == "boolean", "true or false"
  end,
  ["function"] = function(v)
    return type(v) == "function", "a function"
  end,
  positive = function(v)
    return type(v) == "number" and v > 0, "a number greater than 0"
  end,
  nonnegative = function(v)
    return type(v) == "number" and v >= 0, "a number of 0 or more"
  end,
  id = function(v)
    return M.to_id(v) ~= nil, "a positive integer (digits only)"
  end,
  path = function(v)
    return type(v) == "string" and v ~= "" and not v:find("\0", 1, true)
      and v:sub(-1) ~= "/", "a file path (a non-empty string)"
  end,
}

--- The host part of an http(s) URL, or nil.
function M.url_host(url)
  local scheme, rest = url:match("^(https?)://([^/?#]+)")
  if not scheme then
    return nil
  end
  rest = rest:gsub("^.*@", "")
  local host = rest:match("^%[([^%]]+)%]") or rest:match("^([^:]+)")
  return host and host:lower(), scheme
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
    local kind = known[key]
    if not kind then
      return nil, string.format("unknown option %q", tostring(key))
    end
    local ok, wanted = checkers[kind](value)
    if not ok then
      return nil, string.format("option %s must be %s (got %s)", key, wanted,
        key == "password" and type(value) or describe_value(value))
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
  cfg.site_id = opts.site_id and M.to_id(opts.site_id)
  cfg.user_id = opts.user_id and M.to_id(opts.user_id)
  cfg.base_url = cfg.base_url:gsub("/+$", "")
  local host, scheme = M.url_host(cfg.base_url)
  if not host then
    return nil, string.format("option base_url must be an http:// or https:// URL (got %s)",
      describe_value(cfg.base_url))
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
