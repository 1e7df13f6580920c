-- The simulated cloud as one request handler: control requests go to
-- control.lua; every other request is counted, logged, checked against the
-- fault queue and routed to web.lua, battery.lua or schedules.lua.
local compat = require("enphase.util.compat")
local http = require("enphase.sim.http")
local state_mod = require("enphase.sim.state")
local faults_mod = require("enphase.sim.faults")
local router_mod = require("enphase.sim.router")
local control = require("enphase.sim.control")
local web = require("enphase.sim.web")
local battery = require("enphase.sim.battery")
local schedules = require("enphase.sim.schedules")
local stormguard = require("enphase.sim.stormguard")
local mfa = require("enphase.sim.mfa")
local telemetry = require("enphase.sim.telemetry")

local M = {}

local App = {}
App.__index = App

local LOG_BODY_MAX = 65536

--- opts: as state.new (accounts, jwt_ttl, validate_window, pending_seconds).
function M.new(opts)
  local router = router_mod.new()
  web.routes(router)
  battery.routes(router)
  schedules.routes(router)
  telemetry.routes(router)
  stormguard.routes(router)
  mfa.routes(router)
  return setmetatable({
    state = state_mod.new(opts),
    faults = faults_mod.new(),
    router = router,
    server = nil,               -- set by the caller (open_count, stop)
  }, App)
end

local function is_bc(path)
  return path:sub(1, #battery.BC) == battery.BC
end

function App:route(req)
  local handler, caps = self.router:find(req.method, req.path)
  if handler then
    return handler(self, req, compat.unpack(caps))
  end
  local st = self.state
  local status = caps == "method" and 405 or 404
  if is_bc(req.path) then
    return battery.spring(st, req, status)
  end
  return http.html(status, string.format("<html><body><h1>%d %s</h1></body></html>\n",
    status, http.reason(status)))
end

--- Handle one request (from server.lua); `conn` has the connection number.
function App:handle(req, conn)
  req.cookies = http.parse_cookies(req.headers.cookie)
  req.params = http.decode_form(req.query)
  if req.path == "/__sim" or req.path:sub(1, 7) == "/__sim/" then
    return control.handle(self, req, conn)
  end
  local st = self.state
  st.counters.requests = st.counters.requests + 1
  st:count_conn(conn and conn.id or 0)
  local headers = {}
  for k, v in pairs(req.headers) do
    headers[k] = v
  end
  local body = req.body or ""
  local entry = st:add_log({
    conn = conn and conn.id or 0,
    method = req.method,
    path = req.path,
    query = req.query,
    headers = headers,
    cookies = req.cookies,
    body = #body > LOG_BODY_MAX and body:sub(1, LOG_BODY_MAX) or body,
    body_truncated = #body > LOG_BODY_MAX or nil,
    status = 0,
    time = st:now(),
  })
  local fault = self.faults:take(req.method, req.path)
  local resp = fault and faults_mod.answer(fault)
  if not resp then
    resp = self:route(req)
    if fault then
      faults_mod.decorate(fault, resp)
    end
  end
  entry.status = resp.status
  if fault then
    entry.fault = fault.action
  end
  entry.note = req.note
  return resp
end

return M
