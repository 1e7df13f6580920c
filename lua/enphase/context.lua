--- The context a client's modules work in: one table per client, made by
-- `client.new` and handed to every module that acts for the client as
-- `client.ctx`. A module reads what it needs here, by these public names,
-- and never another module's private (`_x`) fields; what a field holds is
-- changed only through its owner's methods (doc/internals.md, "State and
-- its owners"):
--
-- * `config`: the checked options (util/options.lua), read-only;
-- * `log(level, fmt, ...)`: the client's logger (util/log.lua), secrets scrubbed;
-- * `clock()`: seconds since the epoch (the `clock` option, else the wall clock);
-- * `sleep(seconds)`: the `sleep` option, else a timer inside an operation;
-- * `random()`: the jitter of the back-off (the `random` option, else math.random);
-- * `secrets()`: the list of secrets the client holds (for redact.scrub);
-- * `fingerprint(salt)`: the password's salted fingerprint (account/guard.lua);
-- * `session`: the account's session (account/session.lua): JWT, XSRF, cookies;
-- * `site`: the site's facts (account/site.lua): ids, time zone, capabilities;
-- * `store`: the account's file (account/store.lua), nil without one or in a
--   dry run; `read_only_store`: a dry run's file, read, never written;
-- * `dry`: true for a dry-run client (send nothing, record `plans`);
-- * `plans`: a dry-run client's record (transport/api.lua writes it);
-- * `ledger`, `owned`: the account's ledger and own schedules when there is no file.
local M = {}

local Context = { __name = "enphase.context" }
Context.__index = Context

function Context:__tostring()
  local site = self.site and self.site:ids()
  return site and ("enphase.context (site %d)"):format(site) or "enphase.context"
end

--- A context from `fields` (the names above).
function M.new(fields)
  fields.plans = fields.plans or {}
  fields.dry = fields.dry == true
  return setmetatable(fields, Context)
end

return M
