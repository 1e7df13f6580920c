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
local M = {}

--- The failure kinds that are a verdict on the login (they count).
M.REFUSALS = { auth = true, mfa = true, locked = true }

--- The guard's section of a ledger, its fields checked (the file is not
-- trusted: anything odd is dropped).
function M.section(t)
  local g = type(t.login) == "table" and t.login or {}
  t.login = g
  for _, k in ipairs({ "ok_at", "until_at" }) do
    if type(g[k]) ~= "number" or g[k] ~= g[k] then
      g[k] = nil
    end
  end
  g.refusals = math.tointeger(g.refusals) or 0
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
  return ("no automatic login before %s (in %d s, after %d refusal%s in a row): %s"):format(
    utc(g.until_at), math.ceil(g.until_at - now), g.refusals, g.refusals == 1 and "" or "s", HOW)
end

--- Why an automatic login may not go now: `message, kind`, or nil.
function M.blocked(g, now)
  if g.until_at and now < g.until_at then
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

--- Records a login's outcome at `now`. Returns true when the ledger changed.
function M.record(cfg, g, now, ok, kind, message)
  if ok then
    g.ok_at, g.refusals, g.until_at, g.kind, g.message = now, 0, nil, nil, nil
    return true
  end
  if not M.REFUSALS[kind] then
    return false -- a network or server fault says nothing of the credentials
  end
  g.refusals = g.refusals + 1
  g.kind, g.message = kind, message
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
