--- What every `enphase` command's `run` shares: the client, made on demand,
-- and the usage error that names the command's synopsis.
local M = {}

--- Calls `fn(client)` with the context's client; a client that cannot be
-- made (no credentials, bad config) is returned as the failure.
function M.with_client(ctx, fn)
  local client, err, kind = ctx.client()
  if not client then
    return nil, err, kind
  end
  return fn(client)
end

--- The usage failure for a command whose help text is `usage`: its first
-- line (after "Usage: "), exit code 2.
function M.usage_error(usage)
  return nil, "usage: " .. usage:match("^Usage: ([^\n]*)"), "input"
end

return M
