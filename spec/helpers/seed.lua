-- The seed guide's bash scripts, cut out of the guide so that specs and
-- benchmarks can run them against the simulator unchanged (but for the
-- base URL, account and folders they are given).
local M = {}

--- Where the guide sits: beside the checkout, as in CI (or $ENPHASE_SEED).
M.PATH = os.getenv("ENPHASE_SEED") or "../shared/seed/000_5a29bb429159451f.txt"

--- The lines of the guide from the one starting with `from` to the one
-- starting with `to_prefix`; nil and a message when the guide is missing or
-- has no such script.
function M.extract(from, to_prefix, path)
  path = path or M.PATH
  local f = io.open(path)
  if not f then
    return nil, "seed guide not found at " .. path .. " (set ENPHASE_SEED)"
  end
  local text = f:read("a")
  f:close()
  local lines, on = {}, false
  for line in text:gmatch("([^\n]*)\n?") do
    if not on and line:find(from, 1, true) == 1 then
      on = true
    end
    if on then
      lines[#lines + 1] = line
      if line:find(to_prefix, 1, true) == 1 then
        -- the guide glues its next sentence to the last line
        lines[#lines] = line:match("^exit 0") and "exit 0" or line
        break
      end
    end
  end
  if #lines <= 10 then
    return nil, "no script starting with " .. from .. " in " .. path
  end
  return table.concat(lines, "\n") .. "\n"
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

--- Writes the guide's get_enphase_token.sh into `dir`, talking to `base_url`
-- as `email`/`password` with its files in `dir`; returns its path.
function M.token_script(dir, base_url, email, password)
  local script = assert(M.extract("set -euo pipefail", 'echo "{\\"status\\":'))
  script = script:gsub("https://enlighten%.enphaseenergy%.com", base_url)
    :gsub('\nEMAIL="[^\n]*', '\nEMAIL="' .. email .. '"', 1)
    :gsub('\nPASSWORD="[^\n]*', '\nPASSWORD="' .. password .. '"', 1)
    :gsub('\nWORKDIR="[^\n]*', '\nWORKDIR="' .. dir .. '"', 1)
  return write(dir .. "/get_enphase_token.sh", script)
end

--- Writes the guide's get_enphase_schedules_json.sh into `dir` for the site
-- and user given (it reads the tokens from ENPHASE_AUTH and ENPHASE_XSRF);
-- returns its path.
function M.schedules_script(dir, base_url, site_id, user_id)
  local script = assert(M.extract("#!/usr/bin/env bash", "exit 0Make"))
  script = script:gsub("https://enlighten%.enphaseenergy%.com", base_url)
    :gsub('\nSITE_ID="[^\n]*', ('\nSITE_ID="%d"'):format(site_id), 1)
    :gsub('\nUSERNAME="[^\n]*', ('\nUSERNAME="%d"'):format(user_id), 1)
    :gsub('\nLOG_FILE="[^\n]*', '\nLOG_FILE="' .. dir .. '/debug.log"', 1)
  return write(dir .. "/get_enphase_schedules_json.sh", script)
end

return M
