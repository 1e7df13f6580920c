--- The `enphase` command: dispatch, common options, exit codes.
--
-- Exit codes: 0 ok, 1 remote or network failure, 2 usage or input error.
local compat = require("enphase.util.compat")
local args = require("enphase.cli.args")
-- redact.lua is loaded when something is written to stderr (a warm run
-- that succeeds writes nothing there).
local function redact()
  return require("enphase.util.redact")
end
local config = require("enphase.cli.config")

local M = {}

M.EXIT_OK, M.EXIT_REMOTE, M.EXIT_USAGE = 0, 1, 2

local COMMON_OPTIONS = {
  help = "flag", json = "flag", config = "value", ["base-url"] = "value",
  ["token-cache"] = "value", ["no-token-cache"] = "flag", verbose = "flag",
}

local COMMON_HELP = [[
Common options:
  --config FILE     read ENPHASE_* settings from FILE (KEY=value lines, mode 0600)
  --base-url URL    the Enlighten server (default https://enlighten.enphaseenergy.com)
  --token-cache FILE
                    keep the session (JWT, XSRF, ids, cookies) in FILE between runs
                    (default: one file per account and server,
                    $XDG_CACHE_HOME/enphase/session-<hash>.json, else
                    ~/.cache/enphase/session-<hash>.json; or ENPHASE_TOKEN_CACHE)
  --no-token-cache  log in afresh, read and write no cache
  --json            print JSON instead of a table; on a failure, print
                    {"error":MESSAGE,"kind":KIND} (and the message on stderr)
  --verbose         log what happens on stderr (requests, logins, the token
                    cache; secrets redacted). Without it only warnings about
                    the token cache (say, a folder it cannot write) are shown
  -h, --help        show help

Settings come from the environment or the --config file:
  ENPHASE_EMAIL, ENPHASE_PASSWORD (required), ENPHASE_BASE_URL,
  ENPHASE_SITE_ID, ENPHASE_USER_ID (discovered when not given), ENPHASE_TIMEZONE,
  ENPHASE_CA_FILE (a PEM bundle of CAs to trust instead of the system's),
  ENPHASE_TOKEN_CACHE, ENPHASE_BUDGET (requests per hour for the account, all
  processes together; default 600), ENPHASE_MAX_AGE (seconds a cached settings or
  profile read may be reused; default 0, never), ENPHASE_PROFILE_WAIT (seconds
  a pending profile change is waited for; default 900), ENPHASE_MQTT_PASSWORD (the
  broker password of `enphase mqtt`).
The password is never taken from the command line.

Exit codes: 0 ok, 1 remote or network failure, 2 usage or input error.]]

-- name -> module holding { summary=, usage=, options=, run=function(ctx) }
local COMMANDS = {
  { "status", "enphase.cli.account" },
  { "login", "enphase.cli.login" },
  { "token", "enphase.cli.account" },
  { "settings", "enphase.cli.battery" },
  { "cfg", "enphase.cli.battery" },
  { "dtg", "enphase.cli.battery" },
  { "rbd", "enphase.cli.battery" },
  { "profile", "enphase.cli.battery" },
  { "reserve", "enphase.cli.battery" },
  { "schedule", "enphase.cli.schedule" },
  { "stormguard", "enphase.cli.stormguard" },
  { "battery", "enphase.cli.telemetry" },
  { "energy", "enphase.cli.telemetry" },
  { "simulate", "enphase.cli.simulate" },
  { "policy", "enphase.cli.policy" },
  { "sim", "enphase.cli.sim" },
  { "mqtt", "enphase.cli.mqtt" },
}

local function find(name)
  for _, c in ipairs(COMMANDS) do
    if c[1] == name then
      return require(c[2])[name]
    end
  end
  return nil
end

local function main_help()
  local lines = {
    "Usage: enphase COMMAND [options]",
    "",
    "Control Enphase IQ Batteries through the Enlighten cloud.",
    "",
    "Commands:",
  }
  for _, c in ipairs(COMMANDS) do
    lines[#lines + 1] = ("  %-10s %s"):format(c[1], find(c[1]).summary)
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Run 'enphase COMMAND --help' for a command's own options."
  lines[#lines + 1] = ""
  lines[#lines + 1] = COMMON_HELP
  return table.concat(lines, "\n")
end

-- The secrets of the context's client (none before it exists), so that
-- what reaches stderr is scrubbed of them (redact.lua).
local function secrets_of(ctx)
  local c = ctx and ctx.opened_client
  return c and c.ctx.secrets() or {}
end

--- A context: parsed options, output functions, and the client on demand.
-- With --dry-run the client is a dry-run one (it sends nothing and records
-- the plans, printed by `main`) and the command's own output is dropped.
local function context(command, parsed, io_)
  local dry = parsed.options["dry-run"] == true
  local ctx = {
    options = parsed.options,
    words = parsed.words,
    getenv = io_.getenv or os.getenv,
    out = function(s)
      if not dry then
        parsed.printed = true
        io_.stdout:write(s, "\n")
      end
    end,
    -- asks for a secret on the terminal, not echoed; nil without a terminal
    -- one line of standard input (a secret piped in, never in argv)
    read_line = function()
      return (io_.stdin or io.stdin):read("*l")
    end,
    read_secret = io_.read_secret or function(prompt)
      return require("enphase.cli.terminal").read_secret(prompt)
    end,
  }
  function ctx.err(s)
    io_.stderr:write(redact().scrub(s, secrets_of(ctx)), "\n")
  end
  function ctx.client()
    if ctx.opened_client then
      return ctx.opened_client
    end
    local opts, err, how = config.load(parsed.options, io_.getenv)
    if not opts then
      return nil, err, "input"
    end
    if how.default_token_cache then
      -- Only the default: an unusable cache folder is not worth failing for.
      local ok, why = require("enphase.account.cache").prepare(opts.token_cache)
      if not ok then
        ctx.err("enphase: warning: token cache: " .. why .. " (going on without it)")
        opts.token_cache = nil
      end
    end
    if command.client_options then
      command.client_options(opts, ctx)
    end
    -- tests: a virtual clock and sleep for the client
    opts.clock, opts.sleep = io_.clock or opts.clock, io_.sleep or opts.sleep
    local verbose = parsed.options.verbose
    -- without --verbose only warnings can be shown: the others are not
    -- even formatted
    opts.log_level = not verbose and "warn" or nil
    opts.log = function(level, line) -- lines come scrubbed (log.lua)
      -- the files' own troubles, and a timed window left for the user to
      -- delete (owned.lua), are told even without --verbose
      if verbose or (level == "warn" and (line:find("^token cache") or line:find("^account store")
          or line:find("^a timed %a+ action stopped half%-way"))) then
        io_.stderr:write(("enphase: %s: %s\n"):format(level, line))
      end
    end
    opts.dry_run = dry or nil
    -- enphase.client, not init.lua: the error kinds' table is not needed here
    local c, cerr, kind = require("enphase.client").new(opts)
    if not c then
      if cerr:find("email") or cerr:find("password") then
        cerr = cerr .. " (set ENPHASE_EMAIL and ENPHASE_PASSWORD, or use --config)"
      end
      return nil, cerr, kind
    end
    ctx.opened_client = c
    return c
  end
  return ctx
end

--- Exit code for a failure kind.
function M.exit_code(kind)
  return kind == "input" and M.EXIT_USAGE or M.EXIT_REMOTE
end

--- Runs the command line `argv`; returns the exit code. `io_` (optional)
-- replaces stdout, stderr, getenv and read_secret(prompt), and gives the
-- client a clock() and sleep(seconds), for tests.
function M.main(argv, io_)
  io_ = io_ or { stdout = io.stdout, stderr = io.stderr, getenv = os.getenv }
  argv = argv or {}
  local name = argv[1]
  if name == nil or name == "--help" or name == "-h" or name == "help" then
    (name and io_.stdout or io_.stderr):write(main_help(), "\n")
    return name and M.EXIT_OK or M.EXIT_USAGE
  end
  if name == "--version" then
    io_.stdout:write(require("enphase")._VERSION, "\n")
    return M.EXIT_OK
  end
  local command = find(name)
  if not command then
    io_.stderr:write(("enphase: unknown command %s\n\n%s\n"):format(redact().quote(name),
      main_help()))
    return M.EXIT_USAGE
  end
  local rest = { compat.unpack(argv, 2) }
  if command.raw_args then
    return command.run(rest, io_)
  end
  local spec = {}
  for k, v in pairs(COMMON_OPTIONS) do
    spec[k] = v
  end
  for k, v in pairs(command.options or {}) do
    spec[k] = v
  end
  local parsed, perr = args.parse(rest, spec)
  if not parsed then
    io_.stderr:write(("enphase %s: %s\n%s\n"):format(name, redact().scrub(perr), command.usage))
    return M.EXIT_USAGE
  end
  if parsed.options.help then
    -- a command that needs no account (simulate) has its own help in full
    io_.stdout:write(command.usage, command.no_account and "" or "\n\n" .. COMMON_HELP, "\n")
    return M.EXIT_OK
  end
  local max_words = command.max_words
  if type(max_words) == "function" then
    max_words = max_words(parsed.words)
  end
  local extra = args.extra_words(parsed.words, max_words or 0, parsed.options)
  if extra then
    io_.stderr:write(("enphase %s: %s\n%s\n"):format(name, extra, command.usage))
    return M.EXIT_USAGE
  end
  local ctx = context(command, parsed, io_)
  local ok, err, kind = command.run(ctx)
  local said = not ok and redact().scrub(tostring(err), secrets_of(ctx))
  local plans = parsed.options["dry-run"] and ctx.opened_client and ctx.opened_client:plans()
  if ctx.opened_client then
    ctx.opened_client:close()
  end
  if plans and ok then
    require("enphase.cli.dryrun").print(function(line)
      io_.stdout:write(line, "\n")
    end, plans, parsed.options.json)
    return M.EXIT_OK
  end
  if ok then
    return M.EXIT_OK
  end
  io_.stderr:write(("enphase %s: %s\n"):format(name, said))
  if parsed.options.json and not parsed.printed then
    -- one JSON object on stdout even on failure, for hosts that parse it
    -- (a dzVents shellCommandResponse's item.json)
    io_.stdout:write(require("enphase.cli.output").json({ error = said,
      kind = kind or "input" }), "\n")
  end
  if kind == "input" and err and tostring(err):match("^usage") then
    io_.stderr:write(command.usage, "\n")
  end
  return M.exit_code(kind)
end

return M
