--- Error values of lua-enphase.
-- Every failure is returned as `nil, message, kind`; `kind` is one of the
-- strings below, so scripts branch on it and print the message.
local M = {}

--- The kinds a caller may see, with what each means.
M.kinds = {
  input = "a bad argument: nothing was sent",
  auth = "the login was refused (wrong e-mail or password); not retried",
  mfa = "the account needs a one-time code: log in explicitly (enphase login)",
  locked = "the account is locked out or has too many sessions open",
  http = "the server answered an unexpected HTTP status",
  network = "the server could not be reached or the transfer failed",
  protocol = "the server's answer lacked what was needed",
  conflict = "the server refused a schedule that overlaps another",
  not_applied = "the server accepted a change but did not apply it",
  pending = "a change is still pending on the server",
  unsupported = "the site does not support this feature",
  budget = "the account's request budget (all its processes, per hour) is spent: nothing was sent",
  error = "a Lua error raised inside a non-blocking operation (op:result() only; the traceback "
    .. "is a fourth value): a bug to report",
}

--- Returns `nil, message, kind`, formatting the message like string.format.
-- @local
function M.fail(kind, fmt, ...)
  assert(M.kinds[kind], "unknown error kind")
  return nil, select("#", ...) > 0 and fmt:format(...) or fmt, kind
end

return M
