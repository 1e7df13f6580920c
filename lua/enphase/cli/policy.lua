--- `enphase policy FILE`: a policy against the real account (the one
-- `enphase simulate` tried on the simulated house), called now, then, with
-- --loop, whenever it asks. For cron: run it once and schedule the next run
-- from what it prints.
local output = require("enphase.cli.output")

local M = {}

local USAGE = [[Usage: enphase policy FILE [--tariff CSV] [--load CSV] [--solar CSV]
                      [--timezone TZ] [--loop] [--json]

Calls a policy (a Lua file returning {name=, run=function(client, ctx)}, or a
bundled one: do_nothing, fixed_window, price_driven) once against the account,
with the real clock, and prints when it asks to be called again. With --loop it
keeps calling it at those times until it returns nil (stop it with a signal);
the wait between two calls is at least 60 s (15 s against a simulator on this
machine), and longer while the account's request budget is spent.

  --tariff CSV      prices for ctx.price and ctx.forecast("price", ...)
                    (time,import,export, local times, repeated); without it a
                    policy asking for a price fails with a clear message
  --load CSV        household load for ctx.forecast("load", ...) (time,watts)
  --solar CSV       PV for ctx.forecast("solar", ...) (time,watts)
  --timezone TZ     the site's zone when the account does not tell it
  --loop            keep calling the policy when it asks
A policy that raises, calls os.exit or returns something other than a delay in
seconds (> 0) or nil ends the command with exit code 1 and the reason.]]

M.MIN_WAIT, M.MIN_WAIT_LOCAL = 60, 15

-- Is `url` a simulator on this machine (the loopback)?
local function loopback(url)
  local options = require("enphase.util.options")
  local _, host = options.parse_base_url(url or "")
  return host ~= nil and options.is_loopback(host)
end

M.policy = {
  summary = "run a schedule policy against the account (once, or --loop)",
  usage = USAGE,
  options = { tariff = "value", load = "value", solar = "value", timezone = "value",
              loop = "flag" },
  max_words = 1,
  client_options = function(opts, ctx)
    ctx.base_url = opts.base_url -- --loop waits less against a simulator on this machine
  end,
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
    local src = {}
    for _, kind in ipairs({ "tariff", "load", "solar" }) do
      if ctx.options[kind] then
        local s, err = require("enphase.sim.series").load(ctx.options[kind], kind)
        if not s then
          return nil, ("--%s: %s"):format(kind, err), "input"
        end
        src[kind] = s
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
    src.log = function(line)
      ctx.err("policy: " .. line)
    end
    local min_wait = loopback(ctx.base_url) and M.MIN_WAIT_LOCAL
      or M.MIN_WAIT
    local name = p.name or ctx.words[1]
    local budget = require("enphase.account.budget")
    local first = true
    while true do
      local now = math.floor(client:now())
      local pctx = policy_mod.context(now, zone, src, first)
      first = false
      local used_before = budget.usage(client).used
      local ok, wait = policy_mod.call(p, client, pctx)
      if not ok then
        return nil, ("the policy failed: %s"):format(wait), "protocol"
      end
      local werr = wait ~= nil and policy_mod.check_wait(wait)
      if werr then
        return nil, werr, "protocol"
      end
      -- the delay counts from ctx.now, the instant the call began
      local next_at = wait and math.floor(now + wait)
      if ctx.options.json then
        ctx.out(output.json({ policy = name, next_in = wait and math.ceil(wait),
                              next_at = next_at }))
      elseif wait then
        local lt = tz.local_time(zone, next_at)
        ctx.out(("%s: next call in %d s (%02d:%02d %s)"):format(name, math.ceil(wait), lt.hour,
          lt.min, zone))
      else
        ctx.out(("%s: no further call asked"):format(name))
      end
      if not (ctx.options.loop and wait) then
        return true
      end
      local later = math.max(next_at, now + min_wait)
      -- the account's request budget: wait until what this call sent fits again
      local usage = budget.usage(client)
      local room_in = budget.room_in(client, math.max(1, usage.used - used_before))
      if room_in > 0 then
        local at = math.floor(client:now()) + room_in
        if at > later then
          later = at
          ctx.err(("enphase policy: the request budget is spent (%d of %d in %d s): next call "
            .. "in %d s"):format(usage.used, usage.limit, usage.window, room_in))
        end
      end
      local pause = later - client:now()
      if pause > 0 then
        client:sleep(pause)
      end
    end
  end,
}

return M
