--- One battery-API request: make the client ready, send, decode.
local auth = require("enphase.auth")
local json = require("enphase.json")
local budget = require("enphase.budget")
local reads = require("enphase.reads")

local M = {}

--- The battery API's root path.
M.BC = "/service/batteryConfig/api/v1"

--- Sends one request. `build(site_id, user_id)` returns method, path,
-- query (string or nil) and payload (a Lua table to encode, or nil); it is
-- called after discovery, so ids are known. Returns
-- `{status=, body=, data=, headers=}` whatever the status, or
-- `nil, message, kind` when nothing usable came back.
function M.send(client, build)
  local ok, err, kind = auth.ready(client, true)
  if not ok then
    return nil, err, kind
  end
  local method, path, query, payload = build(client._site:ids())
  if method ~= "GET" then
    ok, err, kind = auth.ensure_xsrf(client)
    if not ok then
      return nil, err, kind
    end
    reads.forget(client)
  end
  local body, jerr
  if payload ~= nil then
    body, jerr = json.encode(payload)
    if not body then
      return nil, ("%s %s: cannot encode the request body: %s"):format(method, path, jerr), "input"
    end
  end
  client._log("debug", "%s %s", method, path)
  local status, text, headers = budget.call(client, 1, "request", method, path,
    { query = query, body = body })
  if not status then
    client._log("warn", "%s %s failed (%s): %s", method, path, headers, text)
    return nil, text, headers
  end
  client._log("debug", "%s %s -> %d", method, path, status)
  return {
    status = status,
    body = text,
    headers = headers,
    data = json.decode(text),
    label = method .. " " .. path,
  }
end

--- The server's own words about a failure, when its body has any.
function M.server_message(res)
  local data = res.data
  if type(data) ~= "table" then
    return nil
  end
  local nested = type(data.error) == "table" and data.error or {}
  local parts = {}
  local candidates = { data.code or nested.code, data.message or nested.message,
                       type(data.error) == "string" and data.error or nil }
  for i = 1, 3 do
    local v = candidates[i]
    if type(v) == "string" and v ~= "" then
      parts[#parts + 1] = v
    end
  end
  return #parts > 0 and table.concat(parts, ": ") or nil
end

--- `nil, "<label>: HTTP <status> (<server message>)", "http", res`.
function M.http_failure(res)
  local said = M.server_message(res)
  return nil, ("%s: HTTP %d%s"):format(res.label, res.status, said and (" (" .. said .. ")") or ""),
    "http", res
end

--- A 2xx answer whose body must be JSON: the decoded body, or a failure.
function M.expect_json(res, what)
  if type(res.data) ~= "table" then
    return nil, ("%s: the answer is not the expected JSON (%s)"):format(res.label, what), "protocol"
  end
  return res.data
end

return M
