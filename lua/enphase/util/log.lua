--- A logger that never lets a secret through.
-- The client's own messages hold no secrets; as a second line of defence
-- every line goes through redact.scrub (the secrets the session holds,
-- secret-shaped text, control characters, length) before it reaches the
-- user's `log` callback.
local compat = require("enphase.util.compat")
local redact = require("enphase.util.redact")

local M = {}

--- Returns a function `log(level, fmt, ...)`. `sink` is the user's callback
-- `sink(level, line)` (or nil: nothing is logged); `secrets()` returns the
-- list of strings to hide.
function M.new(sink, secrets)
  if not sink then
    return function() end
  end
  return function(level, fmt, ...)
    local line = select("#", ...) > 0 and fmt:format(...) or fmt
    compat.pcall(sink, level, redact.scrub(line, secrets()))
  end
end

return M
