-- Install from a source checkout, offline:
--   luarocks --lua-version 5.4 make --deps-mode=none rockspec/lua-enphase-scm-1.rockspec
-- (or --lua-version 5.3 or 5.1, in any order: the C module is built for the
-- Lua LuaRocks runs; 5.1 and LuaJIT need lua-compat53's compat-5.3.h)
rockspec_format = "3.0"
package = "lua-enphase"
version = "scm-1"
source = {
  url = "git+file:///lua-enphase",  -- `luarocks make` builds the checkout it runs in
}
description = {
  summary = "Control Enphase IQ Batteries (charge/discharge/schedules) through the Enlighten cloud",
  detailed = [[
A C module over one reused libcurl connection (login, JWT, XSRF, battery API)
with a Lua layer that validates every input, honours the documented delays,
and retries safely; plus the `enphase` command and a local Enlighten simulator.]],
  license = "MIT",
  labels = { "enphase", "battery", "home-automation", "libcurl" },
}
dependencies = {
  "lua >= 5.1, < 5.5",
  "lua-cjson >= 2.1.0",
  -- the simulator (`enphase sim`) and the tests also need luasocket
}
-- libcurl's headers are found by CMake's FindCURL (Debian: libcurl4-openssl-dev),
-- which also knows the multiarch include folder. enphase.mqtt (`enphase mqtt`)
-- needs libmosquitto's (Debian: libmosquitto-dev); ENPHASE_MQTT = "OFF" below
-- builds without it.
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "Release",
    LUA_INCLUDE_DIR = "$(LUA_INCDIR)",
    LUA_CMOD_DIR = "$(LIBDIR)",
    LUA_MOD_DIR = "$(LUADIR)",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    ENPHASE_MQTT = "ON",
    LUA_INTERPRETER = "$(LUA)", -- bytecode for enphase.precompiled, by the same Lua
  },
  install = {
    bin = { enphase = "bin/enphase" },
  },
  copy_directories = { "doc", "examples" },
}
