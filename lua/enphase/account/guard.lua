--- The lock-out guard: when may an account log in by itself?
--
-- Enlighten locks accounts that fail to log in again and again, and counts
-- every new session. So, for all the processes of an account (the guard's
-- memory is the `login` section of the ledger, shared beside the token
-- cache under its lock):
-- * after a refused login (bad credentials, a multi-factor account), no
--   automatic login for `login_cooldown` seconds (300);
-- * after `login_refusals` refusals in a row (3), none for `refusals_pause`
--   seconds (24 h); after "too many active sessions" (`locked`), none for
--   `locked_pause` seconds (24 h);
-- * a login less than `login_reuse` seconds old (30) is reused, not repeated;
-- * an account known to need a one-time code never logs in by password
--   unattended (that counts as a refusal): only an explicit login does.
-- An explicit `client:login{force = true}` (`enphase login`) goes through.
--
-- A wrong password is remembered by a fingerprint, never by itself: after
-- a refusal for bad credentials the guard keeps a random salt and an
-- iterated SHA-256 of salt and password (`M.fingerprint`), and refuses only
-- that password during the pause. A new password (the user fixed the
-- config) is tried at once.
--
-- When the store cannot keep the guard's memory (a full disk, a folder in
-- place of the file, its lock out of reach), an automatic login is not
-- tried at all (auth.lua): the guard fails closed, with a warning, until it
-- can write again. An explicit login still goes through.
local native = require("enphase.transport.native")

local M = {}

-- SHA-256 rounds of a fingerprint: slows a guess from a stolen file down
-- a little; costs well under a millisecond, and only after a refusal.
M.FINGERPRINT_ROUNDS = 1000

--- The failure kinds that are a verdict on the login (they count).
M.REFUSALS = { auth = true, mfa = true, locked = true }

--- The guard's section of a ledger, its fields checked (the file is not
-- trusted: anything odd is dropped).
function M.section(t)
  local g = type(t.guard) == "table" and t.guard or {}
  t.guard = g
  for _, k in ipairs({ "ok_at", "until_at" }) do
    if type(g[k]) ~= "number" or g[k] ~= g[k] then
      g[k] = nil
    end
  end
  local n = g.refusals
  g.refusals = (type(n) == "number" and n >= 0 and n == math.floor(n)) and n or 0
  if not M.REFUSALS[g.kind] then
    g.kind = nil
  end
  if type(g.message) ~= "string" then
    g.message = nil
  end
  if type(g.mfa) ~= "boolean" then
    g.mfa = nil
  end
  return g
end

local function utc(t)
  return os.date("!%Y-%m-%d %H:%M:%SZ", math.floor(t))
end

local HOW = "run `enphase login` or call client:login{force=true}"

local function wait_text(g, now)
  return ("no automatic login before %s (in %d s, after %d refusal%s in a row): %s%s"):format(
    utc(g.until_at), math.ceil(g.until_at - now), g.refusals, g.refusals == 1 and "" or "s", HOW,
    g.fingerprint and "; only this password is held back: a new one is tried at once" or "")
end

--- The fingerprint of `password` with `salt` (hex digits): 64 hex digits.
function M.fingerprint(password, salt)
  local h = native.sha256("enphase-guard-fingerprint\n" .. salt .. "\n" .. password)
  for _ = 1, M.FINGERPRINT_ROUNDS do
    h = native.sha256(h .. salt)
  end
  return h
end

--- A new random salt: 32 hex digits.
function M.new_salt()
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(16)
  if f then
    f:close()
  end
  if not bytes or #bytes < 16 then
    bytes = tostring(os.time()) .. tostring(os.clock()) .. tostring(math.random())
      .. tostring({})
  end
  return native.sha256(bytes):sub(1, 32)
end

--- Why an automatic login may not go now: `message, kind`, or nil.
-- `fingerprint(salt)` (optional) is the password's fingerprint now: after
-- bad credentials only the password that failed is refused.
function M.blocked(g, now, fingerprint)
  local pausing = g.until_at and now < g.until_at
  local now_print = pausing and g.kind == "auth" and g.fingerprint and g.salt and fingerprint
    and fingerprint(g.salt)
  local other_password = now_print and now_print ~= g.fingerprint
  if pausing and not other_password then
    return ("%s; %s"):format(g.message or "login refused", wait_text(g, now)), g.kind or "auth"
  end
  if g.mfa then
    return "the account uses multi-factor authentication and has no live session: run "
      .. "`enphase login` (it asks for the one-time code) or call client:login{otp=CODE}; "
      .. "no password login is tried unattended", "mfa"
  end
  return nil
end

--- Seconds since a successful login when it is recent enough to reuse.
function M.recent(cfg, g, now)
  if g.ok_at and now >= g.ok_at and now - g.ok_at < cfg.login_reuse then
    return now - g.ok_at
  end
  return nil
end

--- A refusal's message, saying when the next automatic attempt is allowed.
function M.refused_message(g, err, now)
  return ("%s; %s"):format(err, wait_text(g, now))
end

--- Records a login's outcome at `now`. Returns true when the ledger
-- changed. `fingerprint(salt)` (optional): the password's, kept after bad
-- credentials.
function M.record(cfg, g, now, ok, kind, message, fingerprint)
  g.trying_at = nil
  if ok then
    g.ok_at, g.refusals, g.until_at, g.kind, g.message = now, 0, nil, nil, nil
    g.fingerprint, g.salt = nil, nil
    return true
  end
  if not M.REFUSALS[kind] then
    return false -- a network or server fault says nothing of the credentials
  end
  g.refusals = g.refusals + 1
  g.kind, g.message = kind, message
  g.fingerprint, g.salt = nil, nil
  if kind == "auth" and fingerprint then
    g.salt = M.new_salt()
    g.fingerprint = fingerprint(g.salt)
  end
  local pause = cfg.login_cooldown
  if kind == "locked" then
    pause = cfg.locked_pause
  elseif g.refusals >= cfg.login_refusals then
    pause = cfg.refusals_pause
  end
  g.until_at = now + pause
  return true
end

return M
