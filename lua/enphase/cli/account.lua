--- `enphase status` and `enphase token`.
local output = require("enphase.cli.output")

local M = {}

M.status = {
  summary = "log in if needed and show the session's status (no secrets)",
  max_words = 0,
  usage = "Usage: enphase status [--json]\n\n"
    .. "Prints OK (or PARTIAL when no XSRF token could be had), the JWT expiry,\n"
    .. "and the site and user ids.",
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
    if ctx.options.json then
      ctx.out(output.json(st))
    else
      ctx.out(output.fields({
        status = st.status,
        site_id = st.site_id,
        user_id = st.user_id,
        exp = ("%d (%s)"):format(st.exp, os.date("!%Y-%m-%d %H:%M:%SZ", st.exp)),
      }, { { "status", "status" }, { "site_id", "site id" }, { "user_id", "user id" },
           { "exp", "token expires" } }))
    end
    return true
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
