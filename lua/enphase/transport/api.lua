--- One battery operation: make the client ready, send it, decode.
--
-- The operations themselves (method, path, query, headers, JSON body) are
-- built in C (`session:plan` / `session:send`, src/battery.c); this module
-- adds the token lifecycle around them. A dry-run client (option
-- `dry_run`) sends nothing: each operation's plan is recorded instead
-- (`client:plans()`), and so is each of the seed's waits.
local auth = require("enphase.account.auth")
local json = require("enphase.util.json")
local budget = require("enphase.account.budget")
local reads = require("enphase.account.reads")

local M = {}

-- A dry-run client records `step`: a plan (session:plan) or a wait.
local function record(client, step)
  local plans = client.ctx.plans
  plans[#plans + 1] = step
end

-- A write needs the XSRF token (a GET goes without, as the seed's poll
-- does) and makes the reads kept in the ledger stale.
local function before_write(client)
  local ok, err, kind = auth.ensure_xsrf(client)
  if ok then
    reads.forget(client)
  end
  return ok, err, kind
end

-- What a request sent as `label` came back with: `{status=, body=, data=,
-- headers=, label=}` whatever the status, or `nil, message, kind`.
local function answer(client, label, status, text, headers)
  if not status then
    client.ctx.log("warn", "%s failed (%s): %s", label, headers, text)
    return nil, text, headers
  end
  client.ctx.log("debug", "%s -> %d", label, status)
  return {
    status = status,
    body = text,
    headers = headers,
    data = json.decode(text),
    label = label,
  }
end

--- Sends operation `op` (a name of `core.OPERATIONS`) with `args`. Returns
-- `{status=, body=, data=, headers=, label=}` whatever the status, or
-- `nil, message, kind` when nothing usable came back. For a dry-run client
-- the answer is `{status=200, dry=true, label=}`: no body, no data.
function M.send(client, op, args)
  if client.ctx.dry then
    local plan, err, kind = client.ctx.session:plan(op, args)
    if not plan then
      return nil, err, kind
    end
    record(client, plan)
    return { status = 200, dry = true, headers = {}, label = plan.method .. " " .. plan.path }
  end
  local ok, err, kind = auth.ready(client, true)
  if not ok then
    return nil, err, kind
  end
  -- enphase.core (libcurl) is loaded by now: the session is ready to send.
  if require("enphase.core").OPERATIONS[op] ~= "GET" then
    ok, err, kind = before_write(client)
    if not ok then
      return nil, err, kind
    end
  end
  client.ctx.log("debug", "%s", op)
  local status, text, headers, label = budget.call(client, 1, "send", op, args)
  return answer(client, label or op, status, text, headers)
end

--- Sends one request that is not a battery operation (the telemetry
-- reads). `build(site_id, user_id)` returns method, path, query (string
-- or nil) and payload (a Lua table to encode, or nil); it is called after
-- discovery, so ids are known. Returns what `send` returns; a dry-run
-- client refuses it (it has no plan to show).
function M.request(client, build)
  if client.ctx.dry then
    return nil, "a dry-run client sends nothing", "input"
  end
  local ok, err, kind = auth.ready(client, true)
  if not ok then
    return nil, err, kind
  end
  local method, path, query, payload = build(client.ctx.site:ids())
  if method ~= "GET" then
    ok, err, kind = before_write(client)
    if not ok then
      return nil, err, kind
    end
  end
  local body, jerr
  if payload ~= nil then
    body, jerr = json.encode(payload)
    if not body then
      return nil, ("%s %s: cannot encode the request body: %s"):format(method, path, jerr), "input"
    end
  end
  client.ctx.log("debug", "%s %s", method, path)
  -- the site pages' reads want the header a browser's XHR sends
  local status, text, headers = budget.call(client, 1, "request", method, path,
    { query = query, body = body, xhr = true })
  return answer(client, method .. " " .. path, status, text, headers)
end

--- One of the seed's waits: `seconds` from the client's configuration,
-- `why` saying which rule it is. A dry-run client records it.
function M.wait(client, seconds, why)
  if client.ctx.dry then
    record(client, { wait = seconds, why = why })
    return
  end
  client.ctx.sleep(seconds)
end

local function word(v)
  return type(v) == "string" and v ~= "" and v or nil
end

--- The one reader of Enlighten's error bodies: `code, message` (each a
-- string or nil) from a failed answer `res`. The shapes seen:
-- `{"error":{"status":"CONFLICTING_SCHEDULE_CFG","message":..}}` (the
-- battery API today), `{"code":..,"message":..}` (older answers),
-- `{"error":{"code":..,"message":..}}`, Spring's `{"status":403,
-- "error":"Forbidden","message":..}` and `{"message":"Invalid"}`.
-- A numeric `status` is the HTTP status again, never a code.
function M.server_error(res)
  local data = res and res.data
  if type(data) ~= "table" then
    return nil, nil
  end
  local nested = type(data.error) == "table" and data.error or {}
  local code = word(nested.status) or word(nested.code) or word(data.code)
    or word(data.errorCode) or word(data.status)
  local message = word(nested.message) or word(data.message)
    or word(data.error) or word(data.errorMessage)
  if message == code then
    message = nil
  end
  return code, message
end

--- The server's own words about a failure, when its body has any:
-- "<code>: <message>", either alone, or nil.
function M.server_message(res)
  local code, message = M.server_error(res)
  if code and message then
    return code .. ": " .. message
  end
  return code or message
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
