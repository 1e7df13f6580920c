--- A logger that never lets a secret through.
-- The client's own messages hold no secrets; as a second line of defence
-- every line is scrubbed of the password and of the current JWT and XSRF
-- token before it reaches the user's `log` callback.
local M = {}

local function scrub(line, secrets)
  for _, secret in ipairs(secrets) do
    if #secret >= 4 then
      local from = 1
      while true do
        local i, j = line:find(secret, from, true)
        if not i then
          break
        end
        line = line:sub(1, i - 1) .. "[REDACTED]" .. line:sub(j + 1)
        from = i + #"[REDACTED]"
      end
    end
  end
  return line
end

--- Returns a function `log(level, fmt, ...)`. `sink` is the user's callback
-- `sink(level, line)` (or nil: nothing is logged); `secrets()` returns the
-- list of strings to hide.
function M.new(sink, secrets)
  if not sink then
    return function() end
  end
  return function(level, fmt, ...)
    local line = select("#", ...) > 0 and fmt:format(...) or fmt
    pcall(sink, level, scrub(line, secrets()))
  end
end

return M
