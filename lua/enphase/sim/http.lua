-- HTTP/1.1 for the simulator: an incremental request parser, response
-- building and serialisation, cookies, query strings and form bodies.
-- No I/O here: server.lua feeds bytes in and writes the strings out.
local json = require("enphase.sim.json")

local M = {}

M.MAX_HEAD = 64 * 1024          -- request line + headers
M.MAX_BODY = 16 * 1024 * 1024   -- request body

M.JSON = "application/json;charset=UTF-8"
M.HTML = "text/html; charset=utf-8"

local reasons = {
  [100] = "Continue", [200] = "OK", [201] = "Created", [202] = "Accepted",
  [204] = "No Content", [301] = "Moved Permanently", [302] = "Found",
  [303] = "See Other", [304] = "Not Modified", [307] = "Temporary Redirect",
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden",
  [404] = "Not Found", [405] = "Method Not Allowed", [406] = "Not Acceptable",
  [408] = "Request Timeout", [409] = "Conflict", [411] = "Length Required",
  [413] = "Payload Too Large", [415] = "Unsupported Media Type",
  [422] = "Unprocessable Entity", [423] = "Locked", [429] = "Too Many Requests",
  [431] = "Request Header Fields Too Large", [500] = "Internal Server Error",
  [501] = "Not Implemented", [502] = "Bad Gateway", [503] = "Service Unavailable",
  [504] = "Gateway Timeout",
}

function M.reason(status)
  return reasons[status] or "Unknown"
end

-- ---------------------------------------------------------------- decoding

--- Percent-decode; `plus` also turns "+" into a space (form encoding).
function M.unescape(s, plus)
  if plus then
    s = s:gsub("+", " ")
  end
  return (s:gsub("%%(%x%x)", function(h)
    return string.char(tonumber(h, 16))
  end))
end

function M.escape(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", c:byte())
  end))
end

--- Decode "a=1&b=x+y" (query string or form body) into a table; the first
-- value of a repeated name wins.
function M.decode_form(s)
  local t = {}
  if not s or s == "" then
    return t
  end
  for pair in s:gmatch("[^&;]+") do
    local k, v = pair:match("^([^=]*)=(.*)$")
    if not k then
      k, v = pair, ""
    end
    k = M.unescape(k, true)
    if t[k] == nil then
      t[k] = M.unescape(v, true)
    end
  end
  return t
end

--- Parse a Cookie header ("a=1; b=2;") into a table.
function M.parse_cookies(header)
  local t = {}
  if not header then
    return t
  end
  for part in header:gmatch("[^;]+") do
    local k, v = part:match("^%s*([^=%s]+)%s*=%s*(.-)%s*$")
    if k then
      v = v:match('^"(.*)"$') or v
      if t[k] == nil then
        t[k] = v
      end
    end
  end
  return t
end

local function parse_chunked(buf, pos)
  local parts = {}
  local total = 0
  while true do
    local line_end = buf:find("\r\n", pos, true)
    if not line_end then
      return nil
    end
    local size = tonumber(buf:sub(pos, line_end - 1):match("^%s*(%x+)"), 16)
    if not size then
      return false, 400, "bad chunk size"
    end
    pos = line_end + 2
    if size == 0 then
      -- trailers until an empty line
      while true do
        local e = buf:find("\r\n", pos, true)
        if not e then
          return nil
        end
        if e == pos then
          return table.concat(parts), e + 2
        end
        pos = e + 2
      end
    end
    total = total + size
    if total > M.MAX_BODY then
      return false, 413, "body too large"
    end
    if #buf < pos + size + 1 then
      return nil
    end
    parts[#parts + 1] = buf:sub(pos, pos + size - 1)
    pos = pos + size + 2
  end
end

--- Parse one request from the front of `buf`.
-- Returns:
--   req, next_pos            a whole request (req.body set)
--   nil, head                headers complete, body still arriving (head is
--                            the request without body: lets the server send
--                            100 Continue)
--   nil                      need more bytes
--   false, status, message   the bytes are not a request we accept
function M.parse_request(buf)
  local head_end, body_start = buf:find("\r\n\r\n", 1, true)
  if not head_end then
    local lf = buf:find("\n\n", 1, true)
    if lf then
      head_end, body_start = lf, lf + 1
    end
  end
  if not head_end then
    if #buf > M.MAX_HEAD then
      return false, 431, "request head too large"
    end
    -- ignore stray empty lines between requests (RFC 9112 2.2)
    return nil
  end
  body_start = body_start + 1
  local head = buf:sub(1, head_end - 1)
  local lines = {}
  for line in (head .. "\n"):gmatch("(.-)\r?\n") do
    lines[#lines + 1] = line
  end
  local first = 1
  while lines[first] == "" do
    first = first + 1
  end
  local method, target, major, minor =
    (lines[first] or ""):match("^(%u+) (%S+) HTTP/(%d)%.(%d)$")
  if not method then
    return false, 400, "bad request line"
  end
  local headers, header_list = {}, {}
  for i = first + 1, #lines do
    local line = lines[i]
    local name, value = line:match("^([^:%s]+):%s*(.-)%s*$")
    if not name then
      return false, 400, "bad header line"
    end
    name = name:lower()
    header_list[#header_list + 1] = { name, value }
    local old = headers[name]
    if old == nil then
      headers[name] = value
    elseif name == "cookie" then
      headers[name] = old .. "; " .. value
    else
      headers[name] = old .. ", " .. value
    end
  end
  local path, query = target:match("^([^?#]*)%??([^#]*)")
  local req = {
    method = method,
    target = target,
    path = path,
    query = query,
    version = major .. "." .. minor,
    headers = headers,
    header_list = header_list,
  }
  local conn_hdr = (headers.connection or ""):lower()
  if req.version == "1.0" then
    req.keep_alive = conn_hdr:find("keep-alive", 1, true) ~= nil
  else
    req.keep_alive = conn_hdr:find("close", 1, true) == nil
  end
  local te = headers["transfer-encoding"]
  if te and te:lower():find("chunked", 1, true) then
    local body, next_pos = parse_chunked(buf, body_start)
    if body == nil then
      return nil, req
    elseif body == false then
      return false, next_pos, "bad chunked body"
    end
    req.body = body
    return req, next_pos
  end
  local cl = headers["content-length"]
  local len = 0
  if cl then
    if not cl:match("^%d+$") then
      return false, 400, "bad content-length"
    end
    len = tonumber(cl)
    if len > M.MAX_BODY then
      return false, 413, "body too large"
    end
  end
  if #buf - body_start + 1 < len then
    return nil, req
  end
  req.body = buf:sub(body_start, body_start + len - 1)
  return req, body_start + len
end

-- ---------------------------------------------------------------- responses

function M.date(t)
  return os.date("!%a, %d %b %Y %H:%M:%S GMT", math.floor(t or os.time()))
end

--- A response: { status, headers = {{name, value}, ...}, body = string }.
-- Optional fields read by server.lua: body_size + body_gen (a streamed body),
-- close (close after sending), delay, action, slow, after (callback).
function M.response(status, content_type, body, headers)
  local h = headers or {}
  if content_type then
    table.insert(h, 1, { "Content-Type", content_type })
  end
  return { status = status, headers = h, body = body or "" }
end

function M.json(status, value, headers)
  local body = type(value) == "string" and value or json.encode(value)
  return M.response(status, M.JSON, body, headers)
end

function M.html(status, text, headers)
  return M.response(status, M.HTML, text, headers)
end

function M.redirect(location, headers)
  local h = headers or {}
  h[#h + 1] = { "Location", location }
  return M.response(302, M.HTML,
    '<html><body>You are being <a href="' .. location .. '">redirected</a>.</body></html>', h)
end

function M.add_header(resp, name, value)
  resp.headers[#resp.headers + 1] = { name, value }
end

function M.get_header(resp, name)
  name = name:lower()
  for _, h in ipairs(resp.headers) do
    if h[1]:lower() == name then
      return h[2]
    end
  end
  return nil
end

--- Serialise the status line and headers. Adds Date, Content-Length and
-- Connection; `body_len` is the length of the whole body.
function M.head(resp, body_len, keep_alive)
  local out = {
    string.format("HTTP/1.1 %d %s\r\n", resp.status, M.reason(resp.status)),
    "Date: " .. M.date() .. "\r\n",
  }
  for _, h in ipairs(resp.headers) do
    local n = h[1]:lower()
    if n ~= "content-length" and n ~= "date" and n ~= "connection" then
      out[#out + 1] = h[1] .. ": " .. tostring(h[2]) .. "\r\n"
    end
  end
  out[#out + 1] = string.format("Content-Length: %d\r\n", body_len)
  out[#out + 1] = keep_alive and "Connection: keep-alive\r\n\r\n"
    or "Connection: close\r\n\r\n"
  return table.concat(out)
end

return M
