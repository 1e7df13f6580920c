--- `--dry-run`: prints what a dry-run client recorded (`client:plans()`):
-- the requests the command would send, built by the same code as the run's
-- (session:plan, src/battery.c), and the seed's waits. Secrets are never
-- printed: the plans carry them as [REDACTED].
local output = require("enphase.cli.output")
local json = require("enphase.util.json")

local M = {}

-- "name: value" pairs of a plan's headers, sorted by name.
local function header_line(headers)
  local names = {}
  for name in pairs(headers) do
    names[#names + 1] = name
  end
  table.sort(names)
  for i, name in ipairs(names) do
    names[i] = name .. ": " .. headers[name]
  end
  return table.concat(names, ", ")
end

--- Prints `steps` with `write` (a function taking one line): a numbered
-- list for people, or with `as_json` one JSON object
-- `{"dry_run":true,"steps":[...]}`.
function M.print(write, steps, as_json)
  if as_json then
    local list = {}
    for i, step in ipairs(steps) do
      list[i] = step.wait and { wait = step.wait, why = step.why }
        or { op = step.op, method = step.method, url = step.url, body = step.body,
             headers = step.headers }
    end
    write(output.json({ dry_run = true, steps = json.array(list) }))
    return
  end
  write("dry run: nothing is sent. The requests would be (after a login when needed):")
  local headers
  for i, step in ipairs(steps) do
    if step.wait then
      write(("%d. wait %g s (%s)"):format(i, step.wait, step.why))
    else
      write(("%d. %s %s"):format(i, step.method, step.url))
      if step.body then
        write("   body: " .. step.body)
      end
      headers = headers or step.headers
    end
  end
  if headers then
    write("headers of each request: " .. header_line(headers))
  end
end

return M
