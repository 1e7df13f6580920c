-- Runs the command lines our host examples ship (Home Assistant YAML in the
-- README, the crontab, the systemd units) the way their host would: through
-- /bin/sh, with `enphase` on PATH (a wrapper running this checkout's
-- bin/enphase), a private config file for the simulator, and a timeout.
--
--   local box = commands.box(sim)    box.dir, box.config, box.path (PATH)
--   box:run(command_line, {timeout=, env={}}) -> code, stdout, stderr, seconds
--   box:close()
local simulator = require("helpers.sim")
local procs = require("helpers.procs")
local H = require("helpers.client")
local child = require("helpers.child")
local socket = require("socket")

local M = {}

local quote = simulator.shell_quote

local Box = {}
Box.__index = Box

--- A scratch folder with bin/enphase (the wrapper), enphase.conf (0600) for
-- `sim` and HOME. opts.password: another password.
function M.box(sim, opts)
  opts = opts or {}
  local dir = procs.capture("mktemp -d /tmp/enphase-hosts.XXXXXX"):gsub("%s+$", "")
  assert(dir ~= "", "mktemp failed")
  assert(os.execute("mkdir -m 700 " .. quote(dir .. "/bin") .. " " .. quote(dir .. "/home")))
  -- the CLI under the Lua under test (bin/enphase picks that Lua's build)
  procs.spit(dir .. "/bin/enphase", "#!/bin/sh\nexec " .. child.lua .. " "
    .. quote(simulator.ROOT .. "/bin/enphase") .. ' "$@"\n', "755")
  local self = setmetatable({ dir = dir, config = dir .. "/enphase.conf",
    path = dir .. "/bin:/usr/bin:/bin" }, Box)
  procs.spit(self.config, ("ENPHASE_EMAIL=%s\nENPHASE_PASSWORD=%s\nENPHASE_BASE_URL=%s\n")
    :format(H.EMAIL, opts.password or H.PASSWORD, sim.base_url), "600")
  return self
end

--- Runs `command` with /bin/sh -c in a clean environment (PATH, HOME and
-- opts.env), killed after opts.timeout seconds (default 60). Returns the
-- exit code (137 when killed), stdout, stderr and the seconds it took.
function Box:run(command, opts)
  opts = opts or {}
  local out, err = self.dir .. "/stdout", self.dir .. "/stderr"
  local env = { "PATH=" .. self.path, "HOME=" .. self.dir .. "/home" }
  for k, v in pairs(opts.env or {}) do
    env[#env + 1] = k .. "=" .. v
  end
  for i, e in ipairs(env) do
    env[i] = quote(e)
  end
  local cmd = ("env -i %s timeout -s KILL %d /bin/sh -c %s >%s 2>%s </dev/null"):format(
    table.concat(env, " "), opts.timeout or 60, quote(command), quote(out), quote(err))
  local started = socket.gettime()
  local _, _, code = os.execute(cmd)
  return code, procs.slurp(out) or "", procs.slurp(err) or "", socket.gettime() - started
end

function Box:close()
  os.execute("rm -rf " .. quote(self.dir))
end

return M
