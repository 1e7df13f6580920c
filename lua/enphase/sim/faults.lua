-- Injected faults. POST /__sim/fault queues one; the next non-control
-- request whose path contains `match` (or equals `path`, when given; and
-- whose method is `method`, when given) consumes one of its `count` uses.
--   status          answer `status` (JSON body unless `body`), Retry-After
--                   when `retry_after` is given; the request is not handled
--   body            answer `status` (default 200) with the raw `body`, or a
--                   generated body of `size` bytes streamed in pieces
--   close           close the connection without answering (`rst`: with a
--                   TCP reset instead of a FIN)
--   hang            never answer; the socket stays open until the client goes
--   reset_mid_body  the normal answer's head (full Content-Length) and half
--                   its body, then close (`rst`: with a TCP reset)
--   raw             send the bytes of `body` as they are (no status line or
--                   headers added), then close: answers that are not HTTP
--   slow_body       the normal answer, its body trickled over `delay` seconds
--   delay           the normal answer, `delay` seconds late
-- `delay` with status/body delays those answers too; `headers` adds headers.
local compat = require("enphase.util.compat")
local http = require("enphase.sim.http")

local M = {}

local ACTIONS = {
  status = true, body = true, close = true, hang = true,
  reset_mid_body = true, slow_body = true, delay = true, raw = true,
}
M.ACTIONS = ACTIONS

local Faults = {}
Faults.__index = Faults

function M.new()
  return setmetatable({ list = {} }, Faults)
end

function Faults:clear()
  self.list = {}
end

--- Queue a fault described by `spec` (decoded JSON). Returns the fault or
-- nil and a message.
function Faults:add(spec)
  if type(spec) ~= "table" then
    return nil, "fault must be an object"
  end
  local f = {
    match = spec.match or "",
    path = spec.path,
    method = spec.method,
    count = spec.count == nil and 1 or compat.tointeger(spec.count),
    action = spec.action,
    status = spec.status,
    body = spec.body,
    size = spec.size,
    headers = spec.headers,
    retry_after = spec.retry_after,
    delay = spec.delay,
    rst = spec.rst,
  }
  if type(f.match) ~= "string" then
    return nil, "match must be a string (a substring of the path)"
  end
  if f.path ~= nil and type(f.path) ~= "string" then
    return nil, "path must be a string (the whole path, without the query)"
  end
  if f.rst ~= nil and type(f.rst) ~= "boolean" then
    return nil, "rst must be true or false"
  end
  if f.method ~= nil then
    if type(f.method) ~= "string" then
      return nil, "method must be a string"
    end
    f.method = f.method:upper()
  end
  if not f.count or f.count < 1 then
    return nil, "count must be a positive integer"
  end
  if f.action == nil then
    if f.status ~= nil then
      f.action = "status"
    elseif f.body ~= nil or f.size ~= nil then
      f.action = "body"
    elseif f.delay ~= nil then
      f.action = "delay"
    end
  end
  if not ACTIONS[f.action] then
    return nil, "action must be one of status, body, close, hang, reset_mid_body, slow_body, "
      .. "delay, raw"
  end
  if f.action == "raw" and type(f.body) ~= "string" then
    return nil, "action raw needs a body (the bytes to send)"
  end
  if f.status ~= nil then
    f.status = compat.tointeger(f.status)
    if not f.status or f.status < 100 or f.status > 999 then
      return nil, "status must be an integer HTTP status"
    end
  end
  if f.action == "status" and not f.status then
    return nil, "action status needs a status"
  end
  if f.body ~= nil and type(f.body) ~= "string" then
    return nil, "body must be a string"
  end
  if f.size ~= nil then
    f.size = compat.tointeger(f.size)
    if not f.size or f.size < 0 then
      return nil, "size must be a non-negative integer"
    end
  end
  if f.headers ~= nil then
    if type(f.headers) ~= "table" then
      return nil, "headers must be an object"
    end
    for k, v in pairs(f.headers) do
      if type(k) ~= "string" or (type(v) ~= "string" and type(v) ~= "number") then
        return nil, "headers must map names to strings"
      end
    end
  end
  if f.retry_after ~= nil and type(f.retry_after) ~= "number" and type(f.retry_after) ~= "string" then
    return nil, "retry_after must be a number"
  end
  if f.delay ~= nil and (type(f.delay) ~= "number" or f.delay < 0) then
    return nil, "delay must be a non-negative number of seconds"
  end
  self.list[#self.list + 1] = f
  return f
end

--- Take one use of the first fault matching the request, or nil.
function Faults:take(method, path)
  for i, f in ipairs(self.list) do
    local hit
    if f.path ~= nil then
      hit = path == f.path
    else
      hit = path:find(f.match, 1, true) ~= nil
    end
    if hit and (f.method == nil or f.method == method) then
      f.count = f.count - 1
      if f.count <= 0 then
        table.remove(self.list, i)
      end
      return f
    end
  end
  return nil
end

function Faults:pending()
  local out = {}
  for i, f in ipairs(self.list) do
    out[i] = {
      match = f.match, path = f.path, method = f.method, count = f.count, action = f.action,
      status = f.status,
    }
  end
  return out
end

-- A body of exactly n bytes produced in pieces: {"pad":"xxx...x"} when it
-- fits and the content is JSON, else "x" repeated.
local function generated_body(n, is_json)
  local prefix, suffix = '{"pad":"', '"}'
  if not is_json or n < #prefix + #suffix then
    prefix, suffix = "", ""
  end
  local fill_end = n - #suffix          -- last byte of the x's
  local block = string.rep("x", 65536)
  local pos = 0                          -- bytes produced so far
  return function()
    if pos >= n then
      return nil
    end
    local out
    if pos < #prefix then
      out = prefix:sub(pos + 1)
    elseif pos < fill_end then
      local len = math.min(#block, fill_end - pos)
      out = len == #block and block or block:sub(1, len)
    else
      out = suffix:sub(pos - fill_end + 1)
    end
    pos = pos + #out
    return out
  end
end

local function add_headers(resp, f)
  for k, v in pairs(f.headers or {}) do
    resp.headers[#resp.headers + 1] = { k, tostring(v) }
  end
end

local function has_header(f, name)
  for k in pairs(f.headers or {}) do
    if k:lower() == name then
      return true
    end
  end
  return false
end

--- The answer of a fault that replaces the handler, or nil when the request
-- is handled normally and the answer decorated (see decorate()).
function M.answer(f)
  local resp
  if f.action == "close" or f.action == "hang" then
    return { status = 0, headers = {}, body = "", action = f.action, rst = f.rst }
  elseif f.action == "raw" then
    return { status = 0, headers = {}, body = f.body, action = "raw", delay = f.delay }
  elseif f.action == "status" or f.action == "body" then
    local status = f.status or 200
    resp = { status = status, headers = {} }
    if not has_header(f, "content-type") then
      resp.headers[1] = { "Content-Type", http.JSON }
    end
    local is_json = not has_header(f, "content-type")
    for k, v in pairs(f.headers or {}) do
      if k:lower() == "content-type" then
        is_json = tostring(v):find("json", 1, true) ~= nil
      end
    end
    if f.size then
      resp.body_size = f.size
      resp.body_gen = generated_body(f.size, is_json)
    elseif f.body then
      resp.body = f.body
    elseif f.action == "status" then
      resp.body = string.format('{"status":%d,"error":"%s","message":"simulated fault"}',
        status, http.reason(status))
    else
      resp.body = ""
    end
    if f.retry_after ~= nil then
      resp.headers[#resp.headers + 1] = { "Retry-After", tostring(f.retry_after) }
    end
    add_headers(resp, f)
    resp.delay = f.delay
    return resp
  end
  return nil
end

--- Apply a decorating fault (delay, slow_body, reset_mid_body) to `resp`.
function M.decorate(f, resp)
  if f.body then
    resp.body = f.body
  end
  add_headers(resp, f)
  if f.status then
    resp.status = f.status
  end
  if f.action == "delay" then
    resp.delay = f.delay
  elseif f.action == "slow_body" then
    resp.action = "slow_body"
    resp.slow = f.delay or 1
  elseif f.action == "reset_mid_body" then
    resp.action = "reset_mid_body"
    resp.rst = f.rst
    resp.delay = f.delay
  end
  return resp
end

return M
