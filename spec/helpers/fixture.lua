-- What the specs of the home-automation hosts (spec/openluup_spec.lua on
-- the real openLuup, spec/domoticz_spec.lua on Domoticz's dzVents) share
-- to set a host up against the simulator: the host's fixture folder in
-- ../shared/hosts beside the checkout (never copied into the project), a
-- scratch folder and a free loopback port for it, the CLI's config file the
-- host's plugin is given, and the battery as the server sees it (logins,
-- settings, a change made in the Enphase app).
--
--   local fixture = require("helpers.fixture")
--   fixture.folder("openluup", "OPENLUUP_FIXTURE")   ../shared/hosts/openluup or $OPENLUUP_FIXTURE
--   fixture.scratch("openluup")  fixture.free_port()
--   fixture.write_config(path, sim, { password =, base_url =, cache = })
--   fixture.logins(sim)  fixture.battery(sim)  fixture.app_sets(sim, "dtg", body)
local simulator = require("helpers.sim")
local procs = require("helpers.procs")
local H = require("helpers.client")
local socket = require("socket")

local M = {}

--- The folder of a host's fixture, without a trailing slash: `$env_var`
-- when set, else ../shared/hosts/`name` beside the checkout.
function M.folder(name, env_var)
  return ((env_var and os.getenv(env_var)) or (simulator.ROOT .. "/../shared/hosts/" .. name))
    :gsub("/*$", "")
end

--- A new private scratch folder for the host (procs.rmdir removes it).
function M.scratch(name)
  return procs.tmpdir(name)
end

--- A TCP port on 127.0.0.1 nobody listens on now (the kernel's pick, released).
function M.free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

--- Writes the CLI's config file for the simulator (mode 0600), the way a
-- user sets up the host's plugin. opts: password (the right one unless
-- given), base_url (the simulator's unless given), cache (the token cache's
-- path; none when nil).
function M.write_config(path, sim, opts)
  opts = opts or {}
  local lines = { "ENPHASE_EMAIL=" .. H.EMAIL, "ENPHASE_PASSWORD=" .. (opts.password or H.PASSWORD),
    "ENPHASE_BASE_URL=" .. (opts.base_url or sim.base_url) }
  if opts.cache then
    lines[#lines + 1] = "ENPHASE_TOKEN_CACHE=" .. opts.cache
  end
  procs.spit(path, table.concat(lines, "\n") .. "\n", "600")
end

--- The logins the simulator has seen (POST /login/login).
function M.logins(sim)
  return #sim:requests_matching("POST", "/login/login")
end

--- The battery's three switches as the server holds them: {cfg=, dtg=, rbd=}.
function M.battery(sim)
  local s = sim:state().accounts[1].settings
  return { cfg = s.chargeFromGrid, dtg = s.dtgControl.enabled, rbd = s.rbdControl.enabled }
end

--- The Enphase app changes a setting straight on the server (isValid, PUT);
-- returns the app's tokens.
function M.app_sets(sim, kind, body)
  local t = assert(sim:tokens())
  sim:bc(t, "POST", ("/battery/sites/%d/schedules/isValid"):format(t.site_id), { scheduleType = kind })
  local res = sim:bc(t, "PUT", ("/batterySettings/%d?userId=%d&source=enho"):format(t.site_id,
    t.user_id), body)
  if res.status ~= 200 then
    error(("the app's PUT: HTTP %d: %s"):format(res.status, res.body), 2)
  end
  return t
end

return M
