--- `--dry-run`: print the requests a command would send, and send nothing.
-- Secrets are never printed: the authentication headers are named, their
-- values shown as [REDACTED].
local config = require("enphase.cli.config")
local json = require("enphase.json")
local options = require("enphase.options")

local M = {}

local function ids(ctx)
  local opts = config.load(ctx.options) or {}
  local site = opts.site_id and options.to_id(opts.site_id)
  local user = opts.user_id and options.to_id(opts.user_id)
  return site and ("%d"):format(site) or "<site>", user and ("%d"):format(user) or "<user>",
    (opts.base_url or options.DEFAULT_BASE_URL):gsub("/+$", "")
end

--- `steps` is a list of `{method, path, query, body}` (path and query may use
-- {site} and {user}) or `{wait = seconds, why = text}`.
function M.print(ctx, steps)
  local site, user, base = ids(ctx)
  local function fill(s)
    return (s:gsub("{site}", site):gsub("{user}", user))
  end
  ctx.out("dry run: nothing is sent. The requests would be (after a login when needed):")
  for i, step in ipairs(steps) do
    if step.wait then
      ctx.out(("%d. wait %g s (%s)"):format(i, step.wait, step.why))
    else
      local url = base .. fill(step[2]) .. (step[3] and ("?" .. fill(step[3])) or "")
      ctx.out(("%d. %s %s"):format(i, step[1], url))
      if step[4] ~= nil then
        ctx.out("   body: " .. json.encode(step[4]))
      end
    end
  end
  ctx.out("headers: content-type: application/json, origin/referer: "
    .. "https://battery-profile-ui.enphaseenergy.com, username: " .. user
    .. ", e-auth-token: [REDACTED], x-xsrf-token: [REDACTED], cookie BP-XSRF-Token=[REDACTED]")
  return true
end

return M
