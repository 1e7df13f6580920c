--- `enphase status` and `enphase token` (`enphase login` is cli/login.lua).
local command = require("enphase.cli.command")
local output = require("enphase.cli.output")

local M = {}

--- Prints the client's status `st` (client:status()): a table, or JSON with --json.
function M.show_status(ctx, st)
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
    return command.with_client(ctx, function(client)
      local st, err, kind = client:status()
      if not st then
        return nil, err, kind
      end
      return M.show_status(ctx, st)
    end)
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
    return command.with_client(ctx, function(client)
      local t, err, kind = client:tokens()
      if not t then
        return nil, err, kind
      end
      ctx.out(output.token_line(t))
      return true
    end)
  end,
}

return M
