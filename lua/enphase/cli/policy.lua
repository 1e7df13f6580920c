--- `enphase policy FILE`: a policy against the real account (the one
-- `enphase simulate` tried on the simulated house), called now, then, with
-- --loop, whenever it asks. For cron: run it once and schedule the next run
-- from what it prints.
local output = require("enphase.cli.output")

local M = {}

local USAGE = [[Usage: enphase policy FILE [--tariff CSV] [--timezone TZ] [--loop] [--json]

Calls a policy (a Lua file returning {name=, run=function(client, ctx)}, or a
bundled one: do_nothing, fixed_window, price_driven) once against the account,
with the real clock, and prints when it asks to be called again. With --loop it
keeps calling it at those times until it returns nil (stop it with a signal).
--tariff gives ctx.price its prices (time,import,export, local times, repeated);
--timezone the site's zone when the account does not tell it.]]

M.policy = {
  summary = "run a schedule policy against the account (once, or --loop)",
  usage = USAGE,
  options = { tariff = "value", timezone = "value", loop = "flag" },
  max_words = 1,
  run = function(ctx)
    if #ctx.words ~= 1 then
      return nil, "usage: enphase policy FILE [--tariff CSV] [--loop]", "input"
    end
    local policy_mod = require("enphase.lab.policy")
    local tz = require("enphase.util.tz")
    local p, perr = policy_mod.load(ctx.words[1])
    if not p then
      return nil, perr, "input"
    end
    local tariff
    if ctx.options.tariff then
      local err
      tariff, err = require("enphase.sim.series").load(ctx.options.tariff, "tariff")
      if not tariff then
        return nil, "--tariff: " .. err, "input"
      end
    end
    if ctx.options.timezone and not tz.known(ctx.options.timezone) then
      return nil, ("--timezone: unknown time zone %q"):format(ctx.options.timezone), "input"
    end
    local client, cerr, ckind = ctx.client()
    if not client then
      return nil, cerr, ckind
    end
    local zone = ctx.options.timezone
    if not zone then
      local z, zerr, zkind = require("enphase.account.auth").timezone(client)
      if not z then
        return nil, zerr or "the site's time zone is unknown: give --timezone", zkind or "input"
      end
      zone = z
    end
    if not tz.known(zone) then
      return nil, ("the site's time zone %q is not known on this machine: give --timezone")
        :format(zone), "input"
    end
    local first = true
    while true do
      local now = client:now()
      local pctx = policy_mod.context(now, zone, tariff, function(line)
        ctx.err("policy: " .. line)
      end, first)
      first = false
      local ok, wait = pcall(p.run, client, pctx)
      if not ok then
        return nil, ("the policy failed: %s"):format(tostring(wait)), "protocol"
      end
      if wait ~= nil and (type(wait) ~= "number" or wait ~= wait or wait <= 0) then
        return nil, ("the policy returned %s: seconds to its next call (> 0) or nil"):format(
          tostring(wait)), "protocol"
      end
      local next_at = wait and math.floor(now + wait)
      if ctx.options.json then
        ctx.out(output.json({ policy = p.name or ctx.words[1], next_in = wait and math.ceil(wait),
                              next_at = next_at }))
      elseif wait then
        local lt = tz.local_time(zone, next_at)
        ctx.out(("%s: next call in %d s (%02d:%02d %s)"):format(p.name or ctx.words[1],
          math.ceil(wait), lt.hour, lt.min, zone))
      else
        ctx.out(("%s: no further call asked"):format(p.name or ctx.words[1]))
      end
      if not (ctx.options.loop and wait) then
        return true
      end
      client:sleep(wait)
    end
  end,
}

return M
