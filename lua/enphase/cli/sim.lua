--- `enphase sim`: hands its arguments to the simulator's own parser.
return {
  sim = {
    summary = "run the local Enlighten simulator (for tests and demos)",
    usage = "Usage: enphase sim [--port N] [--portfile FILE] [--email E] [--password P] "
      .. "[--site-id N] [--user-id N] [--jwt-ttl SECONDS]",
    raw_args = true,
    run = function(rest)
      return require("enphase.sim.cli").main(rest)
    end,
  },
}
