-- Runs bin/enphase (or a Lua script) as separate processes, the way cron,
-- Domoticz or Home Assistant start it, with a clean environment; and the
-- specs' one copy of what goes with that: shell quoting, a command's output,
-- scratch folders, whole files read and written.
local child = require("helpers.child")

local M = {}

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.shell_quote = shell_quote

--- What `cmd` (a shell command) prints on stdout.
function M.capture(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

--- A new private scratch folder, /tmp/enphase-NAME.XXXXXX (NAME: "procs"
-- unless given); M.rmdir removes it.
function M.tmpdir(name)
  local d = M.capture("mktemp -d /tmp/enphase-" .. (name or "procs") .. ".XXXXXX"):gsub("%s+$", "")
  assert(d ~= "")
  return d
end

function M.rmdir(d)
  os.execute("chmod -R u+rwx " .. shell_quote(d) .. " 2>/dev/null; rm -rf " .. shell_quote(d))
end

--- The contents of a file, or nil when it cannot be read.
function M.slurp(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local s = f:read("a")
  f:close()
  return s
end

--- Writes `text` to a file (replacing it); `mode` ("600", "755"...) sets its
-- permissions.
function M.spit(path, text, mode)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  if mode then
    assert(os.execute("chmod " .. mode .. " " .. shell_quote(path)))
  end
end

--- The library's Lua files (not the simulator's), sorted.
function M.library_files()
  local files = {}
  local p = assert(io.popen("find lua/enphase -name '*.lua' -not -path '*/sim/*' | sort"))
  for path in p:lines() do
    files[#files + 1] = path
  end
  p:close()
  return files
end

--- The shell command running `bin/enphase argv...` (or `lua5.x script`
-- when argv.script is set) with exactly `env` (plus PATH), stdin closed,
-- under the Lua under test (helpers.child).
function M.command(env, argv)
  local parts = { "env -i PATH=/usr/bin:/bin" }
  local names = {}
  for k in pairs(env) do
    names[#names + 1] = k
  end
  table.sort(names)
  for _, k in ipairs(names) do
    parts[#parts + 1] = k .. "=" .. shell_quote(env[k])
  end
  parts[#parts + 1] = argv.script and child.lua or child.enphase
  if argv.script then
    parts[#parts + 1] = shell_quote(argv.script)
  end
  for _, a in ipairs(argv) do
    parts[#parts + 1] = shell_quote(a)
  end
  return table.concat(parts, " ") .. " </dev/null"
end

--- Runs `n` processes, at most `parallel` at a time, in the order of their
-- index; `make(i)` returns env, argv. Returns a list of {code, out, err}.
function M.run_many(dir, n, parallel, make)
  local lines = { "cd " .. shell_quote(require("helpers.sim").ROOT) }
  for i = 1, n do
    local env, argv = make(i)
    local base = shell_quote(dir .. "/p" .. i)
    lines[#lines + 1] = ("( %s >%s.out 2>%s.err; echo $? >%s.rc ) &"):format(M.command(env, argv),
      base, base, base)
    if i % parallel == 0 then
      lines[#lines + 1] = "wait"
    end
  end
  lines[#lines + 1] = "wait"
  local script = dir .. "/run.sh"
  local f = assert(io.open(script, "w"))
  f:write(table.concat(lines, "\n"), "\n")
  f:close()
  os.execute("sh " .. shell_quote(script))
  local results = {}
  for i = 1, n do
    local base = dir .. "/p" .. i
    results[i] = {
      code = tonumber((M.slurp(base .. ".rc") or ""):match("%d+")),
      out = M.slurp(base .. ".out") or "",
      err = M.slurp(base .. ".err") or "",
    }
  end
  return results
end

--- One process; {code, out, err}.
function M.run(dir, env, argv)
  return M.run_many(dir, 1, 1, function()
    return env, argv
  end)[1]
end

return M
