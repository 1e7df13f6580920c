std = "lua53" -- the specs and benches: Lua 5.3 (spec/helpers/lua51.lua gives 5.1 that much)
max_line_length = 110
include_files = {
  "lua/**/*.lua", "bin/enphase", "spec/**/*.lua", "examples/**/*.lua", "bench/**/*.lua",
  ".luacheckrc", ".busted",
}
exclude_files = { "build*/**", "spec/fuzz/**" }
files["spec"] = { std = "+busted" }
-- the library and the CLI run under Lua 5.1, LuaJIT, 5.3 and 5.4: only what
-- every one of them has (5.3's extras through enphase.util.compat)
files["lua"] = { std = "min" }
files["bin"] = { std = "min" }
