-- /__sim/rows: a lab run's 15-minute rows written as CSV inside the
-- simulator, for `enphase simulate` (lab/run.lua): the rows and their
-- totals are made here, from the house's buckets (lab/result.lua's
-- writer), so a year's rows never cross the socket as numbers; the lab
-- writes the CSV text it is given to its file.
--
--   POST /__sim/rows        {label, zone, capacity_kwh, start, finish}: a new run
--   GET  /__sim/rows?until=EPOCH
--                           -> 200 text/csv: the rows from where the last one
--                           ended to EPOCH, as CSV lines (the header first);
--                           409 text/plain: the message, on a gap
--   POST /__sim/rows/close  {calls?, requests?, logins?}
--                           -> {"ok":true,"run":{label, rows, figures, ...}}
--                           or {"ok":false,"error":...} (no rows, truncated)
local http = require("enphase.sim.http")
local house_mod = require("enphase.sim.house")
local request_body = require("enphase.sim.request_body")
local result = require("enphase.lab.result")
local tz = require("enphase.util.tz")

local M = {}

local fail = request_body.fail

function M.start(app, req)
  local spec, refused = request_body.object(req)
  if not spec then
    return refused
  end
  if type(spec.label) ~= "string" or not tz.known(spec.zone) then
    return fail("label (a string) and zone (a known time zone) are needed")
  end
  for _, k in ipairs({ "capacity_kwh", "start", "finish" }) do
    if type(spec[k]) ~= "number" then
      return fail(k .. " must be a number")
    end
  end
  app.state.lab_rows = assert(result.writer({
    label = spec.label, zone = spec.zone, capacity_kwh = spec.capacity_kwh, start = spec.start,
    finish = spec.finish, lines = true,
  }))
  return http.json(200, { ok = true })
end

function M.take(app, req)
  local st = app.state
  local w = st.lab_rows
  local till = tonumber(req.params["until"] or "")
  if not w or not till then
    return fail("POST /__sim/rows first, then GET /__sim/rows?until=EPOCH")
  end
  local acct = st.accounts[1]
  if not acct then
    return fail("no account")
  end
  local since = w.next_start
  if till > since then
    local list = st:house(acct):range(since - since % house_mod.BUCKET, till)
    for _, b in ipairs(list) do
      if b and b.start >= since then
        local ok, err = w:add(b)
        if not ok then
          return http.response(409, "text/plain", err)
        end
      end
    end
  end
  return http.response(200, "text/csv", w:take())
end

function M.close(app, req)
  local w = app.state.lab_rows
  if not w then
    return fail("POST /__sim/rows first")
  end
  local extra = request_body.object(req) or {}
  local run, err = w:close({ calls = extra.calls or 0, requests = extra.requests or 0,
                             logins = extra.logins or 0 })
  app.state.lab_rows = nil
  if not run then
    return http.json(200, { ok = false, error = err })
  end
  return http.json(200, { ok = true, run = run })
end

return M
