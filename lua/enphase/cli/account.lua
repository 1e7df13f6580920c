--- `enphase status` and `enphase token`.
local output = require("enphase.cli.output")

local M = {}

local function show_status(ctx, st)
  if ctx.options.json then
    ctx.out(output.json(st))
  else
    local b = st.budget
    ctx.out(output.fields({
      status = st.status,
      site_id = st.site_id,
      user_id = st.user_id,
      exp = ("%d (%s)"):format(st.exp, os.date("!%Y-%m-%d %H:%M:%SZ", st.exp)),
      budget = ("%d of %d requests in the last %d s"):format(b.used, b.limit, b.window),
    }, { { "status", "status" }, { "site_id", "site id" }, { "user_id", "user id" },
         { "exp", "token expires" }, { "budget", "request budget" } }))
  end
  return true
end

M.status = {
  summary = "log in if needed and show the session's status and request budget (no secrets)",
  max_words = 0,
  usage = "Usage: enphase status [--json]\n\n"
    .. "Prints OK (or PARTIAL when no XSRF token could be had), the JWT expiry,\n"
    .. "the site and user ids, and the account's request budget: the requests all\n"
    .. "processes sharing the token cache sent in the last hour, and the limit\n"
    .. "(ENPHASE_BUDGET, default 600).",
  run = function(ctx)
    local client, err, kind = ctx.client()
    if not client then
      return nil, err, kind
    end
    local st
    st, err, kind = client:status()
    if not st then
      return nil, err, kind
    end
    return show_status(ctx, st)
  end,
}

M.login = {
  max_words = 0,
  summary = "log in now, even while the lock-out guard waits (an explicit login)",
  usage = "Usage: enphase login [--json]\n\n"
    .. "Logs in now and keeps the session in the token cache, then prints the status.\n"
    .. "Automatic logins (every other command) stop for 300 s after a refused login,\n"
    .. "and for 24 hours after 3 refusals in a row or \"too many active sessions\":\n"
    .. "this command is the way past that wait, once the password is fixed.",
  run = function(ctx)
    local client, err, kind = ctx.client()
    if not client then
      return nil, err, kind
    end
    local ok
    ok, err, kind = client:login({ force = true })
    if not ok then
      return nil, err, kind
    end
    local st
    st, err, kind = client:status()
    if not st then
      return nil, err, kind
    end
    return show_status(ctx, st)
  end,
}

M.token = {
  summary = "print the seed script's JSON line (token, xsrf, exp, ids): holds secrets",
  max_words = 0,
  usage = "Usage: enphase token --json\n\n"
    .. "Prints {\"status\":..,\"token\":..,\"xsrf\":..,\"exp\":..,\"user_id\":..,"
    .. "\"battery_id\":..},\nthe line get_enphase_token.sh prints, for a Home Assistant "
    .. "command_line sensor.\nIt contains the JWT and the XSRF token: treat the output as a secret.",
  run = function(ctx)
    if not ctx.options.json then
      return nil, "usage: the token holds secrets and is printed only with --json", "input"
    end
    local client, err, kind = ctx.client()
    if not client then
      return nil, err, kind
    end
    local t
    t, err, kind = client:tokens()
    if not t then
      return nil, err, kind
    end
    ctx.out(output.token_line(t))
    return true
  end,
}

return M
