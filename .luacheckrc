std = "lua53" -- the library runs under Lua 5.3 and 5.4: no 5.4-only globals
max_line_length = 110
include_files = {
  "lua/**/*.lua", "bin/enphase", "spec/**/*.lua", "examples/**/*.lua", "bench/**/*.lua",
  ".luacheckrc", ".busted",
}
exclude_files = { "build*/**", "spec/fuzz/**" }
files["spec"] = { std = "+busted" }
