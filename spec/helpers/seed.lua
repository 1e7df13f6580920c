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

return M
