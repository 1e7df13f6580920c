--- The build folders of a source checkout, named once: scripts/setup.sh
-- builds the C modules for each Lua into its own folder (build/ for Lua
-- 5.4, build-5.3/, build-5.1/ and build-luajit/), and bin/enphase, .busted,
-- the specs' child processes and the lab's children (lab/child.lua) put the
-- folder of the Lua they run under on package.cpath. An installed copy
-- finds its C modules on the normal paths and never uses this.
local M = {}

--- The build folder of the Lua running this: "build", "build-5.3",
-- "build-5.1" or "build-luajit" (LuaJIT's _VERSION is "Lua 5.1" too).
function M.build_folder()
  if rawget(_G, "jit") then
    return "build-luajit"
  end
  return ({ ["Lua 5.3"] = "build-5.3", ["Lua 5.1"] = "build-5.1" })[_VERSION] or "build"
end

--- The package.cpath template of that folder in the checkout at `root`.
function M.cpath(root)
  return root .. "/" .. M.build_folder() .. "/?.so"
end

return M
