-- Why luasocket + one select loop: it is the only socket library we can count
-- on next to lua5.4 (no lua-posix, no luv), it is pure Lua to read, and one
-- non-blocking loop serves hundreds of keep-alive clients, timers and faults.
--
-- The event loop: non-blocking listening sockets (plain HTTP, and HTTPS when
-- a certificate is given), one state table per connection (input buffer,
-- incremental parse, a send queue that survives partial sends), and timers
-- for delayed, slow or hanging answers, so that a delayed client never stalls
-- the others.
--
-- HTTPS uses luasec (`ssl`, loaded only when a certificate is given): an
-- accepted socket is wrapped and its handshake driven by the same select
-- loop (dohandshake() answers "wantread"/"wantwrite" instead of blocking);
-- afterwards luasec's "wantread"/"wantwrite" count as luasocket's "timeout".
-- socket.select() asks luasec's dirty() for data it has already decrypted.
local compat = require("enphase.util.compat")
local socket = require("socket")
local http = require("enphase.sim.http")

local M = {}

local Server = {}
Server.__index = Server

local READ_CHUNK = 65536
local MAX_INBUF = 32 * 1024 * 1024
-- socket.select() refuses descriptors >= FD_SETSIZE (1024 on Linux).
local MAX_FD = 1000
local CLOSE = {}                -- send-queue marker: close after what precedes

-- luasec's words for "try again when the socket is ready".
local AGAIN = { timeout = true, wantread = true, wantwrite = true }

--- Create a server. opts: host, port, handler(req, conn) -> response,
-- on_log (optional function(msg)), tls (optional {certificate=, key=,
-- port=}: also serve HTTPS on tls.port, default 0 = any free port).
function M.new(opts)
  local self = setmetatable({
    host = opts.host or "127.0.0.1",
    port = opts.port or 0,
    tls = opts.tls,
    handler = assert(opts.handler, "handler required"),
    log = opts.on_log or function() end,
    conns = {},                 -- sock -> conn
    open = 0,
    accepted = 0,
    timers = {},
    running = false,
  }, Server)
  return self
end

local function bind(host, port)
  local sock, err = socket.bind(host, port, 1024)
  if not sock then
    return nil, string.format("cannot listen on %s:%s: %s", host, port, err)
  end
  sock:settimeout(0)
  local _, bound = sock:getsockname()
  return sock, compat.tointeger(tonumber(bound))
end

--- Listen on the plain port (and the TLS one when configured). Returns the
-- plain port, or nil and a message.
function Server:listen()
  local sock, port = bind(self.host, self.port)
  if not sock then
    return nil, port
  end
  self.listener, self.port = sock, port
  if self.tls then
    local ok, ssl = pcall(require, "ssl")
    if not ok then
      return nil, "HTTPS needs luasec (the Debian package lua-sec): " .. tostring(ssl)
    end
    local ctx, cerr = ssl.newcontext({
      mode = "server", protocol = "any",
      certificate = self.tls.certificate, key = self.tls.key,
      options = { "all", "no_sslv2", "no_sslv3" },
    })
    if not ctx then
      return nil, "cannot load the TLS certificate or key: " .. tostring(cerr)
    end
    self.ssl, self.tls_ctx = ssl, ctx
    local tsock, tport = bind(self.host, self.tls.port or 0)
    if not tsock then
      return nil, tport
    end
    self.tls_listener, self.tls_port = tsock, tport
  end
  return self.port
end

--- Stop accepting for `seconds`: close the listening sockets and every
-- connection but `spare` (the one asking, which closes after its answer),
-- so a client meets "connection refused"; listen again on the same ports
-- afterwards.
function Server:refuse(seconds, spare)
  for _, name in ipairs({ "listener", "tls_listener" }) do
    if self[name] then
      self[name]:close()
      self[name] = nil
    end
  end
  for _, conn in pairs(self.conns) do
    if conn ~= spare then
      self:close_conn(conn)
    end
  end
  self.refusing = true
  self:after(seconds, function()
    self.refusing = false
    local sock = bind(self.host, self.port)
    self.listener = sock
    if self.tls_ctx then
      self.tls_listener = bind(self.host, self.tls_port)
    end
    if not sock then
      self.log("cannot listen again on port " .. tostring(self.port))
    end
  end)
end

--- Run fn after `seconds` (wall clock).
function Server:after(seconds, fn)
  self.timers[#self.timers + 1] = { at = socket.gettime() + seconds, fn = fn }
end

function Server:open_count()
  return self.open
end

function Server:stop()
  self.running = false
  self.stopping = true
end

-- ---------------------------------------------------------------- connections

function Server:close_conn(conn, rst)
  if conn.closed then
    return
  end
  conn.closed = true
  self.conns[conn.sock] = nil
  self.open = self.open - 1
  if rst and not conn.tls then
    -- SO_LINGER with a zero timeout: close() sends a RST, not a FIN
    conn.sock:setoption("linger", { on = true, timeout = 0 })
  end
  conn.sock:close()
  if conn.on_close then
    conn.on_close()
  end
end

function Server:accept(listener)
  local tls = listener == self.tls_listener
  while true do
    local sock = listener:accept()
    if not sock then
      return
    end
    if sock:getfd() >= MAX_FD then
      sock:close()
    else
      sock:settimeout(0)
      sock:setoption("tcp-nodelay", true)
      local handshaking = false
      if tls then
        local wrapped, err = self.ssl.wrap(sock, self.tls_ctx)
        if not wrapped then
          self.log("TLS wrap failed: " .. tostring(err))
          sock:close()
          sock = nil
        else
          sock = wrapped
          sock:settimeout(0)
          handshaking = "wantread"
        end
      end
      if sock then
        self.accepted = self.accepted + 1
        self.open = self.open + 1
        local conn = {
          sock = sock,
          id = self.accepted,
          tls = tls,
          handshaking = handshaking,  -- false, or what the handshake waits for
          inbuf = "",
          queue = {},             -- strings, {gen = fn}, or CLOSE
          cur = nil, cur_pos = 1,
          busy = false,
        }
        self.conns[sock] = conn
        if handshaking then
          self:handshake(conn)
        end
      end
    end
  end
end

-- Drive a TLS handshake one step; a failed one (the client refused the
-- certificate, or spoke plain HTTP) just closes the connection.
function Server:handshake(conn)
  local ok, err = conn.sock:dohandshake()
  if ok then
    conn.handshaking = false
  elseif err == "wantread" or err == "wantwrite" then
    conn.handshaking = err
  else
    self.tls_failures = (self.tls_failures or 0) + 1
    self:close_conn(conn)
  end
end

--- Queue bytes (or a generator) for sending.
function Server:queue(conn, item) -- luacheck: ignore 212/self
  conn.queue[#conn.queue + 1] = item
end

function Server:flush(conn)
  while not conn.closed do
    if not conn.cur then
      local item = table.remove(conn.queue, 1)
      if item == nil then
        return
      elseif item == CLOSE then
        self:close_conn(conn)
        return
      elseif type(item) == "string" then
        if #item > 0 then
          conn.cur, conn.cur_pos = item, 1
        end
      else
        local piece = item.gen()
        if piece then
          table.insert(conn.queue, 1, item)
          conn.cur, conn.cur_pos = piece, 1
        end
      end
    end
    if conn.cur then
      local last, err, partial = conn.sock:send(conn.cur, conn.cur_pos)
      if last then
        conn.cur = nil
      elseif AGAIN[err] then
        conn.cur_pos = partial + 1
        return
      else
        self:close_conn(conn)
        return
      end
    end
  end
end

local function wants_write(conn)
  if conn.handshaking then
    return conn.handshaking == "wantwrite"
  end
  return conn.cur ~= nil or #conn.queue > 0
end

-- The peer has gone (or half-closed): close now, or after what is queued.
function Server:end_conn(conn)
  if conn.closed then
    return
  end
  if conn.cur or #conn.queue > 0 then
    if conn.queue[#conn.queue] ~= CLOSE then
      self:queue(conn, CLOSE)
    end
    conn.busy = true
  else
    self:close_conn(conn)
  end
end

-- Send a response built by the handler, honouring its delay/action.
function Server:send_response(conn, req, resp)
  local keep = req.keep_alive and not resp.close and not self.stopping
  local action = resp.action
  if action == "close" then
    self:flush(conn)
    self:close_conn(conn, resp.rst)
    return
  elseif action == "raw" then
    self:queue(conn, resp.body or "")
    self:queue(conn, CLOSE)
    conn.busy = true
    self:flush(conn)
    return
  elseif action == "hang" then
    conn.busy = true          -- never answered; closed when the client leaves
    return
  end
  local body = resp.body or ""
  local size = resp.body_gen and resp.body_size or #body
  if req.method == "HEAD" then
    size, body, resp.body_gen = #body, "", nil
  end
  local head = http.head(resp, size, keep and action ~= "reset_mid_body")
  if action == "reset_mid_body" then
    local half = body:sub(1, math.floor(#body / 2))
    self:queue(conn, head .. half)
    if resp.rst then
      self:queue(conn, { gen = function()
        self:close_conn(conn, true)
        return nil
      end })
    end
    self:queue(conn, CLOSE)
    conn.busy = true
    self:flush(conn)
    return
  end
  if action == "slow_body" then
    local pieces = math.max(1, math.min(#body, 10))
    local step = (resp.slow or 1) / pieces
    local piece_len = math.ceil(#body / pieces)
    self:queue(conn, head)
    conn.busy = true
    self:flush(conn)
    local i = 0
    local function tick()
      if conn.closed then
        return
      end
      local from = i * piece_len + 1
      i = i + 1
      self:queue(conn, body:sub(from, from + piece_len - 1))
      if i < pieces then
        self:after(step, tick)
      else
        self:finish(conn, keep, resp)
      end
      self:flush(conn)
    end
    self:after(step, tick)
    return
  end
  if resp.body_gen then
    self:queue(conn, head)
    self:queue(conn, { gen = resp.body_gen })
  else
    self:queue(conn, head .. body)
  end
  self:finish(conn, keep, resp)
  self:flush(conn)
end

function Server:finish(conn, keep, resp)
  if resp.after then
    self:queue(conn, { gen = function()
      resp.after()
      return nil
    end })
  end
  if not keep then
    self:queue(conn, CLOSE)
    conn.busy = true
  else
    conn.busy = false
    -- further pipelined requests waiting in the buffer
    self:after(0, function()
      self:process(conn)
    end)
  end
end

function Server:dispatch(conn, req)
  local ok, resp = compat.xpcall(self.handler, debug.traceback, req, conn)
  if not ok then
    self.log("handler error: " .. tostring(resp))
    resp = http.json(500, { status = 500, error = "Internal Server Error" })
  end
  local delay = resp.delay
  if delay and delay > 0 then
    conn.busy = true
    self:after(delay, function()
      if not conn.closed then
        self:send_response(conn, req, resp)
      end
    end)
  else
    self:send_response(conn, req, resp)
  end
end

function Server:process(conn)
  while not conn.closed and not conn.busy do
    local req, a, b = http.parse_request(conn.inbuf)
    if req then
      conn.inbuf = conn.inbuf:sub(a)
      conn.continue_sent = nil
      conn.busy = true
      self:dispatch(conn, req)
    elseif req == false then
      conn.busy = true
      local resp = http.json(a, { status = a, error = http.reason(a), message = b })
      self:send_response(conn, { keep_alive = false, method = "GET" }, resp)
      return
    else
      if a and not conn.continue_sent
        and (a.headers.expect or ""):lower() == "100-continue" then
        conn.continue_sent = true
        self:queue(conn, "HTTP/1.1 100 Continue\r\n\r\n")
        self:flush(conn)
      end
      if conn.peer_closed then
        self:end_conn(conn)
      end
      return
    end
  end
end

function Server:read(conn)
  if conn.handshaking then
    self:handshake(conn)
    if conn.handshaking or conn.closed then
      return
    end
  end
  local parts = {}
  while not conn.closed do
    local data, err, partial = conn.sock:receive(READ_CHUNK)
    local got = data or partial
    if got and #got > 0 then
      parts[#parts + 1] = got
    end
    if not data then
      if not AGAIN[err] then
        conn.peer_closed = true
      end
      break
    end
  end
  if conn.closed then
    return
  end
  if #parts > 0 then
    conn.inbuf = conn.inbuf .. table.concat(parts)
  end
  if conn.peer_closed and conn.busy and not conn.cur and #conn.queue == 0 then
    -- hanging, delayed or trickling: nobody left to answer
    self:close_conn(conn)
    return
  end
  if not conn.busy then
    self:process(conn)
  end
  if conn.peer_closed and not conn.closed and not conn.busy then
    self:end_conn(conn)
  end
end

function Server:run_timers()
  if #self.timers == 0 then
    return nil
  end
  local now = socket.gettime()
  local due, later = {}, {}
  for _, t in ipairs(self.timers) do
    if t.at <= now then
      due[#due + 1] = t
    else
      later[#later + 1] = t
    end
  end
  self.timers = later
  table.sort(due, function(x, y) return x.at < y.at end)
  for _, t in ipairs(due) do
    local ok, err = xpcall(t.fn, debug.traceback)
    if not ok then
      self.log("timer error: " .. tostring(err))
    end
  end
  local next_at
  for _, t in ipairs(self.timers) do
    if not next_at or t.at < next_at then
      next_at = t.at
    end
  end
  return next_at
end

--- Serve until stop(). Returns true.
function Server:run()
  self.running = true
  while self.running do
    local next_at = self:run_timers()
    if not self.running then
      break
    end
    local recvt, sendt = {}, {}
    recvt[#recvt + 1] = self.listener
    recvt[#recvt + 1] = self.tls_listener
    for sock, conn in pairs(self.conns) do
      if conn.handshaking then
        if conn.handshaking == "wantread" then
          recvt[#recvt + 1] = sock
        end
      elseif #conn.inbuf < MAX_INBUF and not conn.peer_closed then
        recvt[#recvt + 1] = sock
      end
      if wants_write(conn) then
        sendt[#sendt + 1] = sock
      end
    end
    local timeout = 1
    if next_at then
      timeout = math.max(0, math.min(timeout, next_at - socket.gettime()))
    end
    local readable, writable = socket.select(recvt, sendt, timeout)
    for _, sock in ipairs(writable or {}) do
      local conn = self.conns[sock]
      if conn and conn.handshaking then
        self:handshake(conn)
      elseif conn then
        self:flush(conn)
      end
    end
    for _, sock in ipairs(readable or {}) do
      if sock == self.listener or sock == self.tls_listener then
        self:accept(sock)
      else
        local conn = self.conns[sock]
        if conn then
          self:read(conn)
        end
      end
    end
  end
  -- a graceful stop: give pending answers a moment to leave
  local deadline = socket.gettime() + 1
  while socket.gettime() < deadline do
    local sendt = {}
    for sock, conn in pairs(self.conns) do
      if wants_write(conn) then
        sendt[#sendt + 1] = sock
      end
    end
    if #sendt == 0 then
      break
    end
    local _, writable = socket.select(nil, sendt, 0.05)
    for _, sock in ipairs(writable or {}) do
      local conn = self.conns[sock]
      if conn then
        self:flush(conn)
      end
    end
  end
  for _, conn in pairs(self.conns) do
    self:close_conn(conn)
  end
  for _, name in ipairs({ "listener", "tls_listener" }) do
    if self[name] then
      self[name]:close()
    end
  end
  return true
end

return M
