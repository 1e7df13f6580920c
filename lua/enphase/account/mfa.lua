--- The multi-factor login, always an explicit one (`client:login{...}`,
-- `enphase login`): Enlighten never sees a password login of an MFA
-- account from an unattended run (lockout.lua stops those).
--
-- 1. A forced password login answers "mfa": Enlighten is asked to send a
--    one-time code, and the login under way (its cookies and the login
--    page's CSRF token, secrets) is kept in the ledger's `mfa_pending`
--    (the private file beside the token cache, or the client's own) for
--    the code's 5 minutes, so that another process can finish it.
-- 2. `client:login{otp = "123456"}` sends the code; once accepted, the
--    session is an ordinary one (JWT, cookies) kept in the token cache.
--    `client:login{resend = true}` asks for a new code, 30 s apart at most.
-- The code itself is never logged, kept, or put in a message.
local budget = require("enphase.account.budget")
local lockout = require("enphase.account.guard")
local cache = require("enphase.account.cache")
local json = require("enphase.util.json")

local M = {}

M.PENDING_TTL = 300
M.RESEND_SPACING = 30

local HOW = "call client:login{otp=CODE} or run `enphase login --otp CODE`"

-- The login under way in the ledger, when usable at `now`.
local function pending(t, now)
  local p = t.mfa
  if type(p) ~= "table" or type(p.started) ~= "number" or type(p.sent) ~= "number"
    or type(p.csrf) ~= "string" or type(p.cookies) ~= "table" then
    return nil
  end
  for i = 1, #p.cookies do
    if type(p.cookies[i]) ~= "string" then
      return nil
    end
  end
  if now < p.started or now - p.started > M.PENDING_TTL then
    return nil
  end
  return p
end

--- Checks a one-time code: a string of 4 to 16 digits (never echoed back).
function M.check_code(otp)
  if type(otp) ~= "string" or not otp:match("^%d+$") or #otp < 4 or #otp > 16 then
    return nil, "otp must be the one-time code as a string of digits (4 to 16), such as "
      .. '"123456"'
  end
  return otp
end

--- After a forced password login answered "mfa" (the session holds the
-- login under way): asks for a code and keeps the login in the ledger `t`.
-- Returns `dirty, nil, message, "mfa", "sent"`.
function M.start(client, t, refusal)
  local session = client.ctx.session
  local csrf = session:secrets().csrf
  if not csrf then
    return false, nil, refusal, "mfa"
  end
  local ok, err, kind = budget.call(client, 1, "mfa_send", csrf)
  if not ok then
    return false, nil, err, kind
  end
  local now = client.ctx.clock()
  t.mfa = { started = now, sent = now, csrf = csrf,
                    cookies = json.array(session:export_state().cookies or {}) }
  client.ctx.log("info", "a one-time code was sent for the multi-factor login")
  return true, nil, ("the account uses multi-factor authentication: Enlighten sent a one-time "
    .. "code (e-mail or text message); %s within %d minutes"):format(HOW, math.floor(M.PENDING_TTL / 60)),
    "mfa", "sent"
end

--- `client:login{otp=}` or `{resend=true}`: goes on with the login under way.
-- Returns `dirty, ok, message, kind[, "sent"]` for ledger.update.
function M.continue(client, t, g, opts)
  local otp = opts.otp
  if otp ~= nil then
    local err
    otp, err = M.check_code(otp)
    if not otp then
      return false, nil, err, "input"
    end
  end
  local now = client.ctx.clock()
  local p = pending(t, now)
  if not p then
    return false, nil, "no multi-factor login under way (none was started, or its "
      .. math.floor(M.PENDING_TTL / 60) .. " minutes are over): call client:login{force=true} or run "
      .. "`enphase login` to have a code sent", "mfa"
  end
  local session = client.ctx.session
  if session:secrets().csrf ~= p.csrf then -- another process started it
    local ok, err, kind = session:resume_login(p.cookies)
    if not ok then
      t.mfa = nil
      return true, nil, "the multi-factor login under way could not be resumed: " .. err, kind
    end
  end
  if not otp then -- resend
    local wait = M.RESEND_SPACING - (now - p.sent)
    if wait > 0 then
      return false, nil, ("a code was sent %d s ago: ask for a new one in %d s"):format(
        math.floor(now - p.sent), math.ceil(wait)), "input"
    end
    local ok, err, kind = budget.call(client, 1, "mfa_send", p.csrf)
    if not ok then
      if kind == "locked" then
        t.mfa = nil
      end
      return kind == "locked", nil, err, kind
    end
    p.sent = now
    p.cookies = json.array(session:export_state().cookies or {})
    return true, nil, "a new one-time code was sent: " .. HOW, "mfa", "sent"
  end
  local ok, err, kind = budget.call(client, 2, "mfa_validate", p.csrf, otp)
  now = client.ctx.clock()
  if ok then
    t.mfa = nil
    lockout.record(client.ctx.config, g, now, true)
    g.mfa = true -- when this session dies, only an explicit login helps
    cache.changed(client)
    client.ctx.log("info", "multi-factor login complete")
    return true, true
  end
  if kind == "locked" then
    t.mfa = nil
    lockout.record(client.ctx.config, g, now, false, kind, err)
    return true, nil, lockout.refused_message(g, err, now), kind
  end
  if kind == "mfa" then
    err = err .. ": check it, or ask for a new one (client:login{resend=true}, "
      .. "`enphase login --resend`)"
  end
  return false, nil, err, kind
end

return M
