--- The JSON object a control request (/__sim/...) carries, and the control
-- API's refusal, for control.lua, house_control.lua and rows_control.lua:
-- an empty body is the empty object; a body that is not a JSON object is
-- refused with 400 {"ok":false,"error":"body must be a JSON object"}.
--
--   local spec, refused = request_body.object(req)
--   if not spec then return refused end
--   return request_body.fail("seconds must be ...")        400 unless a status is given
local http = require("enphase.sim.http")
local json = require("enphase.sim.json")

local M = {}

--- The control API's refusal: `status` (400 unless given) with
-- {"ok":false,"error":message}.
function M.fail(message, status)
  return http.json(status or 400, { ok = false, error = message })
end

--- The body of `req` as a table ({} when it is empty), or nil and the 400
-- answer that refuses it (not JSON, or JSON but not an object).
function M.object(req)
  if req.body == nil or req.body == "" then
    return {}
  end
  local v = json.decode(req.body)
  if type(v) ~= "table" then
    return nil, M.fail("body must be a JSON object")
  end
  return v
end

return M
