--- `enphase login`: a login now, past the lock-out guard's wait, with a
-- one-time code for accounts with multi-factor authentication. Its own
-- file: a warm `enphase status` or `token` does not load it.
local account = require("enphase.cli.account")

local M = {}

local LOGIN_USAGE = "Usage: enphase login [--otp CODE | --resend] [--json]\n\n"
  .. "Logs in now and keeps the session in the token cache, then prints the status.\n"
  .. "Automatic logins (every other command) stop for 300 s after a refused login,\n"
  .. "and for 24 hours after 3 refusals in a row or \"too many active sessions\":\n"
  .. "this command is the way past that wait, once the password is fixed.\n\n"
  .. "Accounts with multi-factor authentication: Enlighten sends a one-time code,\n"
  .. "which is asked on the terminal (not echoed). Without a terminal the command\n"
  .. "stops there; give the code within 5 minutes with --otp CODE (in this or\n"
  .. "another process sharing the token cache; --otp - reads it from standard input,\n"
  .. "which keeps it out of the process list). --resend asks for a new code (at\n"
  .. "most every 30 s). The session then lives in the token cache: unattended runs\n"
  .. "go on until it ends, then stop with an error asking for `enphase login`."

-- Asks for the code on the terminal until it is accepted (3 tries); with
-- no terminal, `nil, message, "mfa"` at once.
local function prompt_code(ctx, client, message)
  local ok, err, kind = nil, message, "mfa"
  for i = 1, 3 do
    local code = ctx.read_secret(i == 1 and (message .. "\none-time code: ") or "one-time code: ")
    if not code then
      return nil, message, "mfa"
    end
    ok, err, kind = client:login({ otp = (code:gsub("%s", "")) })
    if ok or kind ~= "mfa" then
      break
    end
    ctx.err("enphase login: " .. err)
  end
  return ok, err, kind
end

M.login = {
  summary = "log in now, past the lock-out guard's wait; multi-factor accounts too",
  usage = LOGIN_USAGE,
  max_words = 0,
  options = { otp = "value", resend = "flag" },
  run = function(ctx)
    local otp, resend = ctx.options.otp, ctx.options.resend
    if otp == "-" then
      otp = ctx.read_line() or ""
      otp = otp:gsub("%s", "")
    end
    if otp and resend then
      return nil, "--otp and --resend do not go together", "input"
    end
    if otp and not require("enphase.account.mfa").check_code(otp) then
      return nil, "--otp must be the one-time code: 4 to 16 digits", "input"
    end
    local client, err, kind = ctx.client()
    if not client then
      return nil, err, kind
    end
    local ok, sent
    if otp then
      ok, err, kind = client:login({ otp = otp })
    else
      ok, err, kind, sent = client:login(resend and { resend = true } or { force = true })
      if not ok and sent == "sent" then
        local message = err
        ok, err, kind = prompt_code(ctx, client, message)
        if not ok and resend and err == message then
          ctx.err(message)
          return true -- a new code is on its way; --otp gives it
        end
      end
    end
    if not ok then
      return nil, err, kind
    end
    local st
    st, err, kind = client:status()
    if not st then
      return nil, err, kind
    end
    return account.show_status(ctx, st)
  end,
}

return M
