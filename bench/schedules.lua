-- Benchmark 2: the schedule poll (the seed's 30-second command_line sensor).
--
--   seed get_enphase_schedules_json.sh (ENPHASE_AUTH/ENPHASE_XSRF from the
--     token sensor, as the guide's sensor passes them)
--   enphase schedule list --json with the token cache, a new process each poll
--   client:schedules() in one long-lived process
--
-- Run: lua5.4 bench/schedules.lua
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local B = require("common")

local M = {}

-- Every poll must see the 4 schedules set up below (2 CFG, 1 DTG, 1 RBD).
local function four(t)
  return type(t) == "table" and type(t.cfg) == "table" and #t.cfg == 2 and #t.dtg == 1 and #t.rbd == 1
end

local function poll_ok(out)
  return four(B.json.decode(out))
end

function M.run()
  local repeats = B.REPEATS
  local sim = B.start_sim()
  local dir = B.tmpdir()
  local cache = B.has_token_cache()

  -- Four schedules to list (what a Predbat-style setup would hold).
  local setup = B.client(sim.base_url)
  for _, s in ipairs({
    { type = "CFG", start_time = "02:00", end_time = "05:00", days = { 1, 2, 3, 4, 5 } },
    { type = "CFG", start_time = "13:00", end_time = "15:00", days = { 6, 7 } },
    { type = "DTG", start_time = "17:00", end_time = "19:00", days = { 1, 2, 3, 4, 5 } },
    { type = "RBD", start_time = "16:00", end_time = "19:30", days = { 1, 2, 3, 4, 5, 6, 7 } },
  }) do
    assert(setup:add_schedule(s))
  end
  local tokens = assert(setup:tokens())
  setup:close()

  local results = {}
  B.progress("schedules: seed get_enphase_schedules_json.sh (%d runs)", repeats)
  local script = B.seed_schedules_script(dir, sim.base_url, B.SITE, B.USER)
  results.seed = B.measure_command(sim, "bash " .. B.shell_quote(script),
    { ENPHASE_AUTH = tokens.token, ENPHASE_XSRF = tokens.xsrf }, repeats, poll_ok)

  B.progress("schedules: enphase schedule list --json (%d runs)", repeats)
  results.cli = B.measure_command(sim, B.cli("schedule list --json"), {
    ENPHASE_EMAIL = B.EMAIL, ENPHASE_PASSWORD = B.PASSWORD, ENPHASE_BASE_URL = sim.base_url,
    ENPHASE_TOKEN_CACHE = dir .. "/token-cache",
  }, repeats, poll_ok)

  B.progress("schedules: client:schedules() (%d calls)", repeats * 10)
  local client = B.client(sim.base_url)
  results.lib = B.measure_in_process(sim, client, function(c)
    local all, err = c:schedules()
    return four(all), err
  end, repeats * 10)
  client:close()
  B.rmdir(dir)
  sim:stop()

  local rows = B.competitor_rows(results, {
    seed = "seed `get_enphase_schedules_json.sh` (tokens given)",
    cli = "`enphase schedule list --json` + token cache (new process)",
    lib = "`client:schedules()` (long-lived process)",
  }, cache)
  B.print_table("2. Schedule poll (median of " .. repeats .. " polls after a first one; "
    .. "in-process: " .. (repeats * 10) .. " calls; 4 schedules listed)",
    { "competitor", "requests (1st run)", "requests/poll", "TCP conns/poll", "CPU ms/poll",
      "wall ms/poll", "CPU vs seed", "wall vs seed" }, rows, {
      "First CLI run's requests: " .. results.cli.first_names .. ".",
      "The seed's poll needs the token sensor's JWT and XSRF (benchmark 1) and does no refresh itself.",
    })
  return results
end

if B.is_main("schedules") then
  M.run()
end
return M
