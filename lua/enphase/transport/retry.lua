--- The retry policy, in one place.
--
-- `run(client, step)` calls `step()` (one attempt: it returns an api.send
-- result or `nil, msg, kind`) until it succeeds or the policy gives up:
-- * 401: renew the JWT (the web session first, else a full login), once;
-- * 403: fetch a new XSRF token, once (isValid; when it gives no cookie,
--   siteSettings' x-csrf-token header); a write refused again takes the
--   header's token, unless that was done already for it (never more than
--   once per write); a further 403 renews the JWT, once;
-- * 429: wait for Retry-After (or back off), within `attempts`;
-- * 5xx and network faults: exponential back-off with jitter, within `attempts`;
-- * anything else (input, auth, 4xx...): returned at once.
-- All waits go through the client's injectable sleep.
local auth = require("enphase.account.auth")
local api = require("enphase.transport.api")

local M = {}

--- The back-off before attempt `n + 1`: base * 2^(n-1), capped, jittered
-- into its upper half.
function M.backoff(cfg, n, random)
  local full = math.min(cfg.max_backoff, cfg.backoff * 2 ^ (n - 1))
  return full / 2 + full / 2 * random()
end

--- Seconds asked by a Retry-After header (delta-seconds form), capped.
function M.retry_after(cfg, headers)
  local value = headers and headers["retry-after"]
  local seconds = value and tonumber(value:match("^%s*(%d+)%s*$"))
  return seconds and math.min(seconds, cfg.max_retry_after)
end

local function retriable(res)
  return res.status == 429 or res.status >= 500
end

-- A write: its label is "<METHOD> <path>" with a method that changes something.
local function is_write(res)
  local method = type(res.label) == "string" and res.label:match("^(%u+) ")
  return method ~= nil and method ~= "GET" and method ~= "HEAD"
end

function M.run(client, step)
  local cfg = client.ctx.config
  local attempt, renewed_token, renewed_xsrf = 1, false, false
  local fallback = { used = false } -- the siteSettings header's token, once per write
  while true do
    local res, err, kind = step()
    local wait, renew
    if res and res.status < 300 then
      return res
    elseif res and res.status == 401 and not renewed_token then
      renewed_token, renew = true, auth.renew_token
    elseif res and res.status == 403 and not renewed_xsrf then
      renewed_xsrf, renew = true, function(c)
        return auth.renew_xsrf(c, fallback)
      end
    elseif res and res.status == 403 and not fallback.used and is_write(res) then
      renew = function(c)
        local ok, ferr, fkind = auth.xsrf_from_site_settings(c, fallback)
        if ok or renewed_token then
          return ok, ferr, fkind
        end
        c.ctx.log("info", "no XSRF token from siteSettings (%s); renewing the JWT", ferr)
        renewed_token = true
        return auth.renew_token(c)
      end
    elseif res and res.status == 403 and not renewed_token then
      renewed_token, renew = true, auth.renew_token
    elseif res and retriable(res) and attempt < cfg.attempts then
      wait = res.status == 429 and M.retry_after(cfg, res.headers)
        or M.backoff(cfg, attempt, client.ctx.random)
    elseif not res and kind == "network" and attempt < cfg.attempts then
      wait = M.backoff(cfg, attempt, client.ctx.random)
    elseif res then
      return api.http_failure(res)
    else
      return nil, err, kind
    end
    if renew then
      local ok, rerr, rkind = renew(client)
      if not ok then
        return nil, rerr, rkind
      end
    else
      client.ctx.log("info", "attempt %d failed (%s); retrying in %.1f s", attempt,
        res and ("HTTP " .. res.status) or err, wait)
      client.ctx.sleep(wait)
      attempt = attempt + 1
    end
  end
end

--- One operation, `api.send(client, op, args)`, under the policy: its
-- decoded JSON answer (`what` names it in a failure), or `{dry=true}` for a
-- dry-run client.
function M.json(client, op, args, what)
  local res, err, kind = M.run(client, function()
    return api.send(client, op, args)
  end)
  if not res then
    return nil, err, kind
  end
  if res.dry then
    return { dry = true }
  end
  return api.expect_json(res, what)
end

return M
