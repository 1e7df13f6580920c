-- Benchmark 1: the token refresh cycle (the seed's 15-minute sensor).
--
--   seed get_enphase_token.sh as the guide ships it (ids left blank)
--   seed get_enphase_token.sh with BATTERY_ID/USER_ID set (its best case)
--   enphase token --json with the token cache, a new process each cycle
--   client:tokens() in one long-lived process
--
-- Run: lua5.4 bench/token.lua  (prints a markdown table).
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local B = require("common")

local M = {}

local function token_ok(out)
  local t = B.json.decode(out)
  return type(t) == "table" and t.status == "OK" and type(t.token) == "string" and #t.xsrf > 0
end

function M.run()
  local repeats = B.REPEATS
  local sim = B.start_sim()
  local dir = B.tmpdir()
  local results = {}
  local cache = B.has_token_cache()

  B.progress("token: seed script, ids blank (%d runs)", repeats)
  local script = B.seed_token_script(dir, sim.base_url)
  results.seed = B.measure_command(sim, "bash " .. B.shell_quote(script), nil, repeats, token_ok)

  B.progress("token: seed script, ids set (%d runs)", repeats)
  results.seed_ids = B.measure_command(sim, "bash " .. B.shell_quote(script),
    { BATTERY_ID = tostring(B.SITE), USER_ID = tostring(B.USER) }, repeats, token_ok)

  B.progress("token: enphase token --json (%d runs)", repeats)
  local cli_env = {
    ENPHASE_EMAIL = B.EMAIL, ENPHASE_PASSWORD = B.PASSWORD, ENPHASE_BASE_URL = sim.base_url,
    ENPHASE_TOKEN_CACHE = dir .. "/token-cache",
  }
  results.cli = B.measure_command(sim, B.cli("token --json"), cli_env, repeats, token_ok)

  -- The floor of any new Lua process: start, load the library, exit.
  results.floor = B.measure_command(sim, "lua5.4 -e " .. B.shell_quote(
    ("package.path=%q..package.path package.cpath=%q..package.cpath require('enphase')"):format(
      B.ROOT .. "/lua/?.lua;" .. B.ROOT .. "/lua/?/init.lua;", B.ROOT .. "/build/?.so;")), nil, repeats)

  B.progress("token: client:tokens() (%d calls)", repeats * 10)
  local client = B.client(sim.base_url)
  results.lib = B.measure_in_process(sim, client, function(c)
    local t, err = c:tokens()
    return t and t.status == "OK", err
  end, repeats * 10)
  results.status = B.measure_in_process(sim, client, function(c)
    local st, err = c:status()
    return st and st.status == "OK", err
  end, repeats * 10)
  client:close()

  B.rmdir(dir)
  sim:stop()

  local seed = results.seed
  local rows = {}
  for _, k in ipairs({ "seed", "seed_ids", "cli", "floor", "lib", "status" }) do
    local r = results[k]
    local label = ({
      seed = "seed `get_enphase_token.sh` (ids blank, as shipped)",
      seed_ids = "seed `get_enphase_token.sh` (BATTERY_ID/USER_ID set)",
      cli = "`enphase token --json` + token cache (new process)" .. (cache and "" or " [cache not landed]"),
      floor = "(floor: `lua5.4` loading the library and exiting, no work)",
      lib = "`client:tokens()` (long-lived process)",
      status = "`client:status()` (the same client)",
    })[k]
    rows[#rows + 1] = {
      label, B.num(r.first_requests), B.num(r.requests), B.num(r.connections), B.num(r.logins),
      B.ms(r.cpu), B.ms(r.wall), B.ratio(seed.cpu, r.cpu), B.ratio(seed.wall, r.wall),
    }
  end
  B.print_table("1. Token refresh cycle (median of " .. repeats .. " cycles after a cold one; "
    .. "in-process: " .. (repeats * 10) .. " calls)",
    { "competitor", "requests (cold)", "requests/cycle", "TCP conns/cycle", "logins/cycle",
      "CPU ms/cycle", "wall ms/cycle", "CPU vs seed", "wall vs seed" }, rows, {
      "Requests of a cold cycle (seed): " .. seed.first_names .. ".",
      "Token cache option: " .. (cache and "present" or "NOT in the library yet (the CLI logs in every run)")
        .. ". Ratios: the seed's median / the row's median (higher is better).",
    })
  return results
end

if B.is_main("token") then
  M.run()
end
return M
