--- Reading a secret (a one-time code) from the terminal without echo.
local compat = require("enphase.util.compat")
local M = {}

--- Writes `prompt` to stderr and reads one line from stdin with the echo
-- off. Returns the line, or nil when stdin is not a terminal (cron, a
-- pipe): nothing is read then. The secret never goes to a child process
-- (stty only changes the terminal's mode).
function M.read_secret(prompt)
  if compat.execute("test -t 0") ~= true then
    return nil
  end
  io.stderr:write(prompt)
  io.stderr:flush()
  local quiet = compat.execute("stty -echo 2>/dev/null") == true
  local line = io.stdin:read("*l")
  if quiet then
    compat.execute("stty echo 2>/dev/null")
  end
  io.stderr:write("\n")
  return line
end

return M
