std = "lua54"
max_line_length = 110
include_files = {
  "lua/**/*.lua", "bin/enphase", "spec/**/*.lua", "examples/**/*.lua", "bench/**/*.lua",
  ".luacheckrc", ".busted",
}
exclude_files = { "build*/**", "spec/fuzz/**" }
files["spec"] = { std = "+busted" }
