-- Runs bin/enphase as a separate process, the way cron or a Home Assistant
-- command_line sensor runs it.
--
--   local cli = require("helpers.cli")
--   local code, stdout, stderr = cli.run({ ENPHASE_EMAIL = ... }, "status", "--json")
local child = require("helpers.child")

local M = {}

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  os.remove(path)
  return s
end

--- Runs `bin/enphase ...` with only PATH and `env` in its environment.
-- Returns the exit code, stdout and stderr.
function M.run(env, ...)
  local out, errf = os.tmpname(), os.tmpname()
  local parts = { "env -i PATH=/usr/bin:/bin" }
  for k, v in pairs(env or {}) do
    parts[#parts + 1] = k .. "=" .. shell_quote(v)
  end
  parts[#parts + 1] = "timeout 60 " .. child.enphase -- under the Lua under test
  for _, a in ipairs({ ... }) do
    parts[#parts + 1] = shell_quote(a)
  end
  local cmd = table.concat(parts, " ") .. " </dev/null >" .. out .. " 2>" .. errf
  local _, _, code = os.execute(cmd)
  return code, slurp(out), slurp(errf)
end

M.shell_quote = shell_quote

return M
