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

local M = {}

--- The library's name and version: "lua-enphase 0.1.0".
M._VERSION = "lua-enphase 0.1.0"

--- Creates a client for one account; see `enphase.client.new`.
-- @function new
M.new = client.new

--- The Enlighten server used when `base_url` is not given.
M.DEFAULT_BASE_URL = require("enphase.util.options").DEFAULT_BASE_URL

--- The error kinds, each with what it means: `enphase.errors.kinds`.
M.error_kinds = errors.kinds

-- Non-blocking use (README "Non-blocking use"; engine.lua).

--- Starts an operation; see `enphase.transport.engine.spawn`.
function M.spawn(...)
  return require("enphase.transport.engine").spawn(...)
end

--- Drives transfers and timers once; see `enphase.transport.engine.poll`.
function M.poll(...)
  return require("enphase.transport.engine").poll(...)
end

--- Polls until no operation runs; see `enphase.transport.engine.run`.
function M.run(...)
  return require("enphase.transport.engine").run(...)
end

--- Seconds until `poll` has work; see `enphase.transport.engine.next_timeout`.
function M.next_timeout(...)
  return require("enphase.transport.engine").next_timeout(...)
end

return M
