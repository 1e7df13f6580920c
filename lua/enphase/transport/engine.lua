--- The non-blocking engine: operations are coroutines; their transfers go
-- through enphase.core's multi handle (shared by every client of the Lua
-- state) and their waits are timers.
--
--     local op = enphase.spawn(function() return client:settings() end)
--     while enphase.poll(1) > 0 do end      -- or enphase.run()
--     print(op:result())
--
-- How it fits together:
-- * `spawn` runs the function in a coroutine marked with
--   `core.mark_operation`. A C step called there (login, s:request...)
--   starts its transfer and yields `core.WAIT, id`; `poll` resumes the
--   coroutine when `core.poll` reports that id, and the C function returns
--   its usual values to the Lua code that called it.
-- * `M.sleep` (the clients' sleep unless one was injected) yields `TIMER`
--   inside an operation, and sleeps for real outside one.
-- * Inside operations one operation at a time uses a client: the others
--   queue (`exclusive`, yields `LOCK`). Outside operations a call on a
--   client an operation is using answers `nil, "client busy ...", "input"`.
-- * A C step waiting in a coroutine keeps its session busy: another call
--   on that session answers `nil, "session busy ...", "input"`.
--
-- `enphase.core` (libcurl) is loaded by the first operation, not before: a
-- process that only reads a token cache never loads it.
local compat = require("enphase.util.compat")
local native = require("enphase.transport.native")

local M = {}

local core -- enphase.core, once an operation has started
local WAIT -- core.WAIT: what a C step yields while its transfer runs
local TIMER = setmetatable({}, { __name = "enphase.engine.TIMER" })
local LOCK = setmetatable({}, { __name = "enphase.engine.LOCK" })

--- The longest `next_timeout()` answers while transfers are in flight
-- (seconds): a host loop that only calls `poll(0)` on a timer sees answers
-- at most this late.
-- @local
M.IO_INTERVAL = 0.01

local monotonic = native.monotonic
local pack, unpack = compat.pack, compat.unpack

local running = 0 -- operations not finished
local by_thread = {} -- coroutine -> op, while running (keeps it alive)
local io_wait = {} -- session id -> op waiting on that transfer
local ready = {} -- ops to resume at the next poll, in order
local timers = {} -- min-heap of { at, seq, op }
local timer_seq = 0
local callback_errors = {} -- errors raised by on_done callbacks

-- ------------------------------------------------------------ timers

local function earlier(a, b)
  return a.at < b.at or (a.at == b.at and a.seq < b.seq)
end

local function push_timer(op, seconds)
  timer_seq = timer_seq + 1
  local t = { at = monotonic() + seconds, seq = timer_seq, op = op }
  local i = #timers + 1
  timers[i] = t
  while i > 1 do
    local parent = math.floor(i / 2)
    if not earlier(timers[i], timers[parent]) then
      break
    end
    timers[i], timers[parent] = timers[parent], timers[i]
    i = parent
  end
end

local function pop_timer()
  local top = timers[1]
  local last = table.remove(timers)
  local n = #timers
  if n == 0 then
    return top
  end
  timers[1] = last
  local i = 1
  while true do
    local l, r, m = 2 * i, 2 * i + 1, i
    if l <= n and earlier(timers[l], timers[m]) then
      m = l
    end
    if r <= n and earlier(timers[r], timers[m]) then
      m = r
    end
    if m == i then
      break
    end
    timers[i], timers[m] = timers[m], timers[i]
    i = m
  end
  return top
end

-- ------------------------------------------------------------ operations

local Op = {}
Op.__index = Op
Op.__name = "enphase.operation"

--- True once the operation's function has returned (or raised).
function Op:done()
  return self.results ~= nil
end

--- The values the function returned; `nil, message, "error", traceback`
-- when it raised; `nil, "the operation has not finished", "input"` before.
function Op:result()
  local r = self.results
  if not r then
    return nil, "the operation has not finished", "input"
  end
  return unpack(r, 1, r.n)
end

function Op:__tostring()
  return self.results and "enphase.operation (done)" or "enphase.operation (running)"
end

local function finish(op, results)
  op.results = results
  by_thread[op.co] = nil
  core.mark_operation(op.co, false)
  running = running - 1
  if op.on_done then
    local ok, err = compat.pcall(op.on_done, unpack(results, 1, results.n))
    if not ok then
      callback_errors[#callback_errors + 1] = err
    end
  end
end

-- Resumes op and files it under what it now waits for.
local function resume(op, ...)
  local co = op.co
  local r = pack(coroutine.resume(co, ...))
  if coroutine.status(co) == "dead" then
    if r[1] then
      finish(op, pack(unpack(r, 2, r.n)))
    else
      local message = tostring(r[2])
      finish(op, pack(nil, message, "error", debug.traceback(co, message)))
    end
    return
  end
  local marker, arg = r[2], r[3]
  if marker == WAIT then
    io_wait[arg] = op
  elseif marker == TIMER then
    push_timer(op, arg)
  elseif marker ~= LOCK then -- LOCK: the client's queue holds it
    ready[#ready + 1] = op -- a yield of the function itself: go on next poll
  end
end

-- Raises, after the engine's bookkeeping is done, what an on_done raised.
local function raise_callback_errors()
  if #callback_errors > 0 then
    local err = callback_errors[1]
    callback_errors = {}
    error(err, 0)
  end
end

--- The operation running in this coroutine, when it may yield; else nil.
-- @local
function M.current()
  local co, main = coroutine.running()
  if main or not co then -- 5.1: nil in the main coroutine
    return nil
  end
  local op = by_thread[compat.root(co)]
  if op and compat.isyieldable() then
    return op
  end
  return nil
end

--- Starts `fn` as an operation and returns it. It runs at once until its
-- first wait (so an operation that needs no request is done on return).
-- `on_done(...)`, when given, is called with the results; a Lua error in
-- `fn` becomes the results `nil, message, "error", traceback`.
function M.spawn(fn, on_done)
  if type(fn) ~= "function" then
    error("enphase.spawn: function expected, got " .. type(fn), 2)
  end
  if on_done ~= nil and type(on_done) ~= "function" then
    error("enphase.spawn: on_done must be a function, got " .. type(on_done), 2)
  end
  local co = coroutine.create(fn)
  local op = setmetatable({ co = co, on_done = on_done }, Op)
  if not core then
    core = require("enphase.core")
    WAIT = core.WAIT
    -- plain Lua 5.1: a yieldable pcall (compat.pcall) runs its function in
    -- a coroutine of its own; inside an operation, that one is marked too
    compat.on_nest = function(nested, parent)
      if parent == nil then
        core.mark_operation(nested, false)
      elseif by_thread[compat.root(parent)] then
        core.mark_operation(nested)
      end
    end
  end
  core.mark_operation(co)
  by_thread[co] = op
  running = running + 1
  resume(op)
  raise_callback_errors()
  return op
end

local function outside(what)
  local co = coroutine.running()
  if co and by_thread[compat.root(co)] then
    error("enphase." .. what .. " called inside an operation", 3)
  end
end

--- Drives transfers and timers once, waiting at most `timeout` seconds
-- (default 0) for something to happen, resumes what finished, and returns
-- the number of operations still running.
function M.poll(timeout)
  if timeout == nil then
    timeout = 0
  elseif type(timeout) ~= "number" or timeout < 0 or timeout ~= timeout then
    error("enphase.poll: timeout must be a number of seconds >= 0", 2)
  end
  outside("poll")
  if running == 0 then
    return 0
  end
  local wait = #ready > 0 and 0 or timeout
  if timers[1] then
    wait = math.min(wait, math.max(0, timers[1].at - monotonic()))
  end
  local ids = core.poll(wait)
  for _, id in ipairs(ids) do
    local op = io_wait[id]
    if op then
      io_wait[id] = nil
      resume(op)
    end
  end
  local now = monotonic()
  while timers[1] and timers[1].at <= now do
    resume(pop_timer().op)
  end
  local batch = ready
  ready = {}
  for _, op in ipairs(batch) do
    resume(op)
  end
  raise_callback_errors()
  return running
end

--- Seconds until `poll` has work (0: now), or nil when nothing runs: for a
-- host with its own loop. While transfers are in flight it is at most
-- `IO_INTERVAL`, since their sockets are not handed to the host.
function M.next_timeout()
  if running == 0 then
    return nil
  end
  if #ready > 0 then
    return 0
  end
  local inflight, ended = core.pending()
  if ended > 0 then
    return 0
  end
  local t = timers[1] and math.max(0, timers[1].at - monotonic())
  if inflight > 0 or not t then
    t = math.min(t or M.IO_INTERVAL, M.IO_INTERVAL)
  end
  return t
end

--- Polls until no operation runs.
function M.run()
  outside("run")
  while running > 0 do
    M.poll(60)
    if running > 0 and #ready == 0 and not timers[1] and next(io_wait) == nil then
      error("enphase.run: " .. running .. " operations wait for each other's clients", 2)
    end
  end
end

--- Number of operations running.
-- @local
function M.running()
  return running
end

--- Polls until `op` is done (outside operations), then returns its results.
function Op:wait()
  outside("operation:wait")
  while not self.results do
    if M.poll(60) == 0 then
      break
    end
  end
  return self:result()
end

--- The clients' sleep: a timer inside an operation, a real sleep outside.
-- @local
function M.sleep(seconds)
  if M.current() then
    if type(seconds) ~= "number" or seconds ~= seconds then
      error("bad argument #1 to 'sleep' (number expected)", 2)
    end
    if seconds > 0 then
      coroutine.yield(TIMER, seconds)
    end
    return
  end
  native.sleep(seconds)
end

-- ------------------------------------------------------------ one operation per client

-- The engine's own state about clients, kept out of the client objects:
-- the operation using each one, and the operations waiting for it.
local owner_of = setmetatable({}, { __mode = "k" }) -- client -> op
local queue_of = setmetatable({}, { __mode = "k" }) -- client -> { op, ... }

local function release(client)
  local queue = queue_of[client]
  local nxt = queue and table.remove(queue, 1)
  owner_of[client] = nxt
  if nxt then
    ready[#ready + 1] = nxt -- it owns the client now
  end
end

local function locked_call(client, fn, ...)
  local r = pack(compat.pcall(fn, client, ...))
  release(client)
  if not r[1] then
    error(r[2], 0)
  end
  return unpack(r, 2, r.n)
end

--- Wraps a client method so that inside operations one operation at a time
-- uses a client (the others wait their turn, in order); calls made by the
-- operation that holds the client go straight through.
-- @local
function M.exclusive(fn)
  return function(client, ...)
    local owner = owner_of[client]
    if not owner then
      local op = M.current()
      if not op then
        return fn(client, ...)
      end
      owner_of[client] = op
      return locked_call(client, fn, ...)
    end
    local co = coroutine.running()
    if co and owner == by_thread[compat.root(co)] then
      return fn(client, ...)
    end
    local op = M.current()
    if not op then
      return nil, "client busy: an operation is using it (enphase.poll() moves it on)", "input"
    end
    local queue = queue_of[client] or {}
    queue_of[client] = queue
    queue[#queue + 1] = op
    repeat
      coroutine.yield(LOCK)
    until owner_of[client] == op
    return locked_call(client, fn, ...)
  end
end

return M
