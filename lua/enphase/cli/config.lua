--- CLI settings: the environment, or a `KEY=value` file given with --config
-- (the same format as a systemd EnvironmentFile). The password is never
-- taken from the command line.
local native = require("enphase.transport.native")

-- A settings file is a few lines; anything much larger is not one.
local MAX_SIZE = 64 * 1024

local M = {}

M.KEYS = {
  ENPHASE_EMAIL = "email",
  ENPHASE_PASSWORD = "password",
  ENPHASE_BASE_URL = "base_url",
  ENPHASE_SITE_ID = "site_id",
  ENPHASE_USER_ID = "user_id",
  ENPHASE_TIMEZONE = "timezone",
  ENPHASE_CA_FILE = "ca_file",
  ENPHASE_TOKEN_CACHE = "token_cache",
  ENPHASE_BUDGET = "budget",
  ENPHASE_MAX_AGE = "max_age",
  ENPHASE_PROFILE_WAIT = "profile_wait",
}

--- Keys a config file may hold that are not client options: the broker
-- password of `enphase mqtt` (cli/mqtt.lua reads it from here).
M.OTHER_KEYS = { ENPHASE_MQTT_PASSWORD = true }

-- Settings that are numbers (the environment holds strings).
local NUMBERS = { budget = true, max_age = true, profile_wait = true }

--- The variable of a virtual clock for tests: seconds added to the wall
-- clock. It moves the lock-out guard's and the budget's time, and the
-- client's waits (the retry back-off, the seed's delays) move it instead of
-- passing, so it is honoured only against a loopback server (a simulator),
-- and refused with any other base URL.
M.TEST_CLOCK = "ENPHASE_TEST_CLOCK_OFFSET"

local function unquote(v)
  local q = v:sub(1, 1)
  if (q == '"' or q == "'") and v:sub(-1) == q and #v >= 2 then
    return v:sub(2, -2)
  end
  return v
end

--- Reads a config file; refuses one that others may read.
function M.read_file(path)
  local mode, uid_or_err, what = native.file_mode(path)
  if not mode then
    return nil, ("config file %s: %s"):format(path, uid_or_err)
  elseif what ~= "file" then -- reading a folder fails, a FIFO blocks
    return nil, ("config file %s: not a regular file (a %s)"):format(path, what)
  end
  if mode % 64 ~= 0 then -- 0077: any group or world permission
    return nil, ("config file %s is readable by others (mode %03o): it holds a password; "
      .. "run chmod 600 %s"):format(path, mode % 512, path)
  end
  local f, err = io.open(path, "r")
  if not f then
    return nil, ("config file %s: %s"):format(path, err)
  end
  local text = f:read(MAX_SIZE + 1) or "" -- nil at the end of an empty file
  f:close()
  if #text > MAX_SIZE then
    return nil, ("config file %s: larger than %d bytes"):format(path, MAX_SIZE)
  end
  local values, n = {}, 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    line = line:gsub("^%s+", ""):gsub("%s+$", "")
    if line ~= "" and not line:match("^#") then
      local key, value = line:match("^export%s+([%w_]+)%s*=%s*(.*)$")
      if not key then
        key, value = line:match("^([%w_]+)%s*=%s*(.*)$")
      end
      if not key then
        return nil, ("config file %s, line %d: expected KEY=value"):format(path, n)
      end
      if not M.KEYS[key] and not M.OTHER_KEYS[key] then
        return nil, ("config file %s, line %d: unknown key %s (known: %s)"):format(path, n,
          require("enphase.util.redact").quote(key), "ENPHASE_EMAIL, ENPHASE_PASSWORD, ENPHASE_BASE_URL, "
          .. "ENPHASE_SITE_ID, ENPHASE_USER_ID, ENPHASE_TIMEZONE, ENPHASE_CA_FILE, "
          .. "ENPHASE_TOKEN_CACHE, ENPHASE_BUDGET, ENPHASE_MAX_AGE, ENPHASE_PROFILE_WAIT, "
          .. "ENPHASE_MQTT_PASSWORD")
      end
      values[key] = unquote(value)
    end
  end
  return values
end

--- The default token cache of one account: `session-<key>.json` in
-- `$XDG_CACHE_HOME/enphase/`, else in `$HOME/.cache/enphase/`, where `<key>`
-- is the start of the cache's account key (a SHA-256 of the base URL and the
-- e-mail), so that two accounts (or one account on two servers) never share
-- a file. nil without a HOME or an e-mail.
function M.default_token_cache(getenv, email, base_url)
  if not email then
    return nil
  end
  local dir
  local xdg, home = getenv("XDG_CACHE_HOME"), getenv("HOME")
  if xdg and xdg:sub(1, 1) == "/" then
    dir = xdg:gsub("/+$", "") .. "/enphase"
  elseif home and home:sub(1, 1) == "/" then
    dir = home:gsub("/+$", "") .. "/.cache/enphase"
  else
    return nil
  end
  base_url = (base_url or require("enphase.util.options").DEFAULT_BASE_URL):gsub("/+$", "")
  local key = require("enphase.account.cache").account_key(base_url, email)
  return ("%s/session-%s.json"):format(dir, key:sub(1, 16))
end

--- The client options from the environment and the config file (the file
-- wins), then `--base-url` and the token cache options. `getenv` is
-- injectable for tests. A third value `{default_token_cache=true}` says
-- that the token cache is only the default one (nobody asked for it).
function M.load(options, getenv)
  getenv = getenv or os.getenv
  local raw = {}
  for key in pairs(M.KEYS) do
    raw[key] = getenv(key)
  end
  if options.config then
    local values, err = M.read_file(options.config)
    if not values then
      return nil, err
    end
    for k, v in pairs(values) do
      raw[k] = v
    end
  end
  local opts = {}
  for key, field in pairs(M.KEYS) do
    if raw[key] and raw[key] ~= "" then
      opts[field] = raw[key]
    end
  end
  for key, field in pairs(M.KEYS) do
    if NUMBERS[field] and opts[field] then
      local n = tonumber(opts[field])
      if not n then
        return nil, ("%s must be a number (got %q)"):format(key, opts[field])
      end
      opts[field] = n
    end
  end
  if options["base-url"] then
    opts.base_url = options["base-url"]
  end
  local offset = getenv(M.TEST_CLOCK)
  if offset and offset ~= "" then
    local _, host = require("enphase.util.options").parse_base_url(opts.base_url or "")
    local seconds = tonumber(offset)
    if not (host and require("enphase.util.options").is_loopback(host)) then
      return nil, M.TEST_CLOCK .. " is a test setting, honoured only with a loopback base URL "
        .. "(a local simulator): unset it"
    elseif not seconds then
      return nil, M.TEST_CLOCK .. " must be a number of seconds"
    end
    local slept = 0
    opts.clock = function()
      return native.now() + seconds + slept
    end
    opts.sleep = function(wait)
      if wait > 0 then
        slept = slept + wait
      end
    end
  end
  local defaulted = false
  if options["no-token-cache"] then
    opts.token_cache = nil
  elseif options["token-cache"] then
    opts.token_cache = options["token-cache"]
  elseif not opts.token_cache then
    opts.token_cache = M.default_token_cache(getenv, opts.email, opts.base_url)
    defaulted = opts.token_cache ~= nil
  end
  return opts, nil, { default_token_cache = defaulted }
end

return M
