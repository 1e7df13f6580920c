--- lua-enphase: control Enphase IQ Batteries through the Enlighten cloud.
--
-- This is the only public entry point:
--
--     local enphase = require "enphase"
--     local client = assert(enphase.new{ email = ..., password = ... })
--     print(client:status().status)
--
-- See README.md for the whole API.
local client = require("enphase.client")
local errors = require("enphase.errors")
local engine = require("enphase.engine")

return {
  _VERSION = "lua-enphase 0.1.0",
  new = client.new,
  DEFAULT_BASE_URL = require("enphase.options").DEFAULT_BASE_URL,
  error_kinds = errors.kinds,
  -- Non-blocking use (README "Non-blocking use"; engine.lua).
  spawn = engine.spawn,
  poll = engine.poll,
  run = engine.run,
  next_timeout = engine.next_timeout,
}
