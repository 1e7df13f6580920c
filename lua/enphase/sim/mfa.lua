-- Enlighten's multi-factor login. A password login of an account with
-- `mfa` leaves a pending web session (web.lua: a redirect to /login/otp and
-- a `login_otp_nonce` cookie); then, with that session's cookies and one of
-- its authenticity tokens as `X-CSRF-Token`:
--   POST /app-api/generate_mfa_login_otp  locale=en -> a new 6-digit code
--        (readable through GET /__sim/otp); at most one every 30 s, else 429
--   POST /app-api/validate_login_otp      email=<b64>&otp=<b64>&xhrFields..
--        -> the login body and a logged-in session cookie; a wrong code
--        {"isValid":false,"isBlocked":false}; the 3rd wrong code in a row
--        blocks the account's codes for 30 minutes ({"isBlocked":true},
--        then 429 for every try).
-- A code lives 5 minutes.
local http = require("enphase.sim.http")
local jwt = require("enphase.sim.jwt")

local M = {}

M.RESEND_SPACING = 30
M.CODE_TTL = 300
M.MAX_WRONG = 3
M.BLOCK_SECONDS = 1800

local SESSION_COOKIE = "_enlighten_4_session"

-- The pending session of the request and its account, or nil and the
-- answer to give.
local function pending(st, req)
  local s = st:session(req.cookies[SESSION_COOKIE])
  if not s or not s.otp_account or not req.cookies.login_otp_nonce then
    req.note = "no multi-factor login under way"
    return nil, http.json(401, { message = "Unauthorized" })
  end
  local token = req.headers["x-csrf-token"]
  if not token or not s.tokens[token] then
    req.note = "x-csrf-token missing or unknown"
    return nil, http.json(422, { message = "Can't verify CSRF token authenticity." })
  end
  local acct = s.otp_account
  local mfa = acct.mfa_state
  if mfa.blocked_until and st:now() < mfa.blocked_until then
    req.note = "codes blocked"
    return nil, http.json(429, { isValid = false, isBlocked = true },
      { { "Retry-After", ("%d"):format(math.ceil(mfa.blocked_until - st:now())) } })
  end
  return s, acct
end

function M.generate(sim, req)
  local st = sim.state
  local s, acct = pending(st, req)
  if not s then
    return acct
  end
  local mfa = acct.mfa_state
  if mfa.sent_at and st:now() - mfa.sent_at < M.RESEND_SPACING then
    req.note = "code requested again within 30 s"
    return http.json(429, { success = false, isBlocked = false },
      { { "Retry-After", ("%d"):format(math.ceil(M.RESEND_SPACING - (st:now() - mfa.sent_at))) } })
  end
  local n = 0
  for _, b in ipairs({ jwt.random_bytes(4):byte(1, 4) }) do
    n = n * 256 + b
  end
  mfa.code = ("%06d"):format(n % 1000000)
  mfa.sent_at = st:now()
  mfa.sent = (mfa.sent or 0) + 1
  mfa.session = s.id
  return http.json(200, { success = true, isBlocked = false })
end

local function b64(v)
  if type(v) ~= "string" or #v % 4 ~= 0 or not v:match("^[%w+/]*=?=?$") then
    return nil
  end
  return jwt.b64url_decode(v)
end

function M.validate(sim, req)
  local st = sim.state
  local s, acct = pending(st, req)
  if not s then
    return acct
  end
  local form = http.decode_form(req.body)
  local email, otp = b64(form.email), b64(form.otp)
  if not email or not otp or form["xhrFields[withCredentials]"] ~= "true" then
    req.note = "malformed form (email and otp must be padded base64)"
    return http.json(400, { message = "Bad Request" })
  end
  local mfa = acct.mfa_state
  local fresh = mfa.code and mfa.session == s.id and st:now() - mfa.sent_at <= M.CODE_TTL
  if email:lower() ~= acct.email:lower() or not fresh or otp ~= mfa.code then
    mfa.wrong = (mfa.wrong or 0) + 1
    req.note = "wrong one-time code"
    if mfa.wrong >= M.MAX_WRONG then
      mfa.blocked_until = st:now() + M.BLOCK_SECONDS
      mfa.wrong, mfa.code = 0, nil
      return http.json(200, { isValid = false, isBlocked = true })
    end
    return http.json(200, { isValid = false, isBlocked = false })
  end
  mfa.code, mfa.wrong = nil, 0
  st:drop_session(s)
  local ns = st:new_session()
  ns.account = acct
  st.counters.logins = st.counters.logins + 1
  return http.json(200, {
    message = "success", session_id = ns.id, manager_token = jwt.random_hex(16),
    system_id = acct.site_id, redirect_url = "/",
  }, {
    { "Set-Cookie", SESSION_COOKIE .. "=" .. ns.id .. "; path=/; HttpOnly" },
    { "Set-Cookie", "login_otp_nonce=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT" },
  })
end

function M.routes(router)
  router:add("POST", "/app%-api/generate_mfa_login_otp", M.generate)
  router:add("POST", "/app%-api/validate_login_otp", M.validate)
end

return M
