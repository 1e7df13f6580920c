--- A logger that never lets a secret through.
-- The client's own messages hold no secrets; as a second line of defence
-- every line goes through redact.scrub (the secrets the session holds,
-- secret-shaped text, control characters, length) before it reaches the
-- user's `log` callback.
local compat = require("enphase.util.compat")

local M = {}

--- The levels, least important first (option `log_level`).
M.RANK = { debug = 1, info = 2, warn = 3 }

--- Returns a function `log(level, fmt, ...)`. `sink` is the user's callback
-- `sink(level, line)` (or nil: nothing is logged); `secrets()` returns the
-- list of strings to hide. A line of a level below `min_level` (default
-- "debug": every line) is dropped before it is even formatted.
function M.new(sink, secrets, min_level)
  if not sink then
    return function() end
  end
  local min = M.RANK[min_level] or 1
  return function(level, fmt, ...)
    if (M.RANK[level] or min) < min then
      return
    end
    local line = select("#", ...) > 0 and fmt:format(...) or fmt
    -- loaded with the first line: a warm start that logs nothing does not
    compat.pcall(sink, level, require("enphase.util.redact").scrub(line, secrets()))
  end
end

return M
