std = "lua54"
max_line_length = 110
include_files = { "lua", "bin/enphase", "spec", "examples", "bench", ".luacheckrc", ".busted" }
files["spec"] = { std = "+busted" }
