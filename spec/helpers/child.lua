-- The Lua under test, for the processes specs start (bin/enphase, the
-- simulator, scripts): the one place that decides which interpreter and
-- which build of the C module a child uses. busted runs the specs under
-- lua5.4, lua5.3, lua5.1 or luajit (`busted --lua=lua5.3`); a child runs
-- under the same, with the checkout's build for that Lua
-- (enphase.util.checkout, as .busted and bin/enphase pick it).
local M = {}

--- "5.4", "5.3" or "5.1" (LuaJIT too: the Lua version of its API)
M.version = assert(_VERSION:match("^Lua (5%.[134])$"), "Lua 5.1, 5.3 or 5.4 expected")
--- true under LuaJIT
M.luajit = rawget(_G, "jit") ~= nil
M.lua = M.luajit and "luajit" or "lua" .. M.version -- Debian's names: lua5.3, lua5.4, luajit
M.build = require("enphase.util.checkout").build_folder()
M.cpath = M.build .. "/?.so"
-- the CLI of the checkout, from its root (bin/enphase finds M.build itself)
M.enphase = M.lua .. " bin/enphase"

return M
