-- Builds clients wired to a running simulator, with a recording sleep, an
-- adjustable clock and a capturing logger, so specs never wait for real.
local enphase = require("enphase")

local M = {}

M.EMAIL, M.PASSWORD = "demo@example.com", "demo-password"
M.SITE_ID, M.USER_ID = 5652514, 4980363

--- Returns client, probe. `probe.sleeps` lists every sleep asked for,
-- `probe.lines` every log line, `probe.advance(s)` moves the clock.
-- The clock stands still from the client's creation on (only advance()
-- moves it): a spec asserting on either side of a boundary 1 s apart
-- (`advance(299)` then `advance(2)` around a 300 s limit) must not depend
-- on how long the machine took between two calls.
function M.new(sim, extra)
  local start = os.time()
  local probe = { sleeps = {}, lines = {}, offset = 0 }
  function probe.advance(seconds)
    probe.offset = probe.offset + seconds
  end
  local opts = {
    email = M.EMAIL,
    password = M.PASSWORD,
    base_url = sim.base_url,
    timeout = 5,
    sleep = function(s)
      probe.sleeps[#probe.sleeps + 1] = s
    end,
    clock = function()
      return start + probe.offset
    end,
    log = function(level, line)
      probe.lines[#probe.lines + 1] = level .. " " .. line
    end,
  }
  for k, v in pairs(extra or {}) do
    if v == false and k ~= "verify_tls" then
      opts[k] = nil
    else
      opts[k] = v
    end
  end
  local client, err, kind = enphase.new(opts)
  assert(client, err and (err .. " (" .. kind .. ")"))
  return client, probe
end

--- Requests in the simulator's log since `from` (a length of an earlier log).
function M.since(sim, from)
  local log = sim:log()
  local out = {}
  for i = from + 1, #log do
    out[#out + 1] = log[i]
  end
  return out
end

--- "METHOD path" lines of a log slice, for readable assertions.
function M.lines(entries)
  local out = {}
  for i, e in ipairs(entries) do
    out[i] = e.method .. " " .. e.path
  end
  return out
end

--- Runs the `enphase` CLI in this process (enphase.cli.main) with `argv`
-- and exactly the environment `env` (a table); returns the exit code, what
-- it wrote to stdout and what it wrote to stderr. `more` (optional) adds
-- io fields: `stdin`, `read_secret`.
function M.main(argv, env, more)
  local out, errs = {}, {}
  local function sink(t)
    return { write = function(_, ...)
      for _, s in ipairs({ ... }) do
        t[#t + 1] = s
      end
    end }
  end
  local io_ = { stdout = sink(out), stderr = sink(errs), getenv = function(k) return env[k] end }
  for k, v in pairs(more or {}) do
    io_[k] = v
  end
  local code = require("enphase.cli").main(argv, io_)
  return code, table.concat(out), table.concat(errs)
end

return M
