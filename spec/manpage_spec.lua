-- doc/enphase.1 (installed by the Debian package) and `enphase --help` agree:
-- the same commands, the common options, the ENPHASE_* settings, the version.
-- When this fails after a change to the CLI, update doc/enphase.1 with it.
local child = require("helpers.child")

local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  p:close()
  return out
end

local function read(path)
  local f = assert(io.open(path))
  local s = f:read("a")
  f:close()
  return s
end

-- The lines of section `name` of a man page, roff escapes for - undone.
local function section(page, name)
  local lines, inside = {}, false
  for line in (page .. "\n"):gmatch("([^\n]*)\n") do -- (5.1's gmatch adds empty matches to "[^\n]*")
    if line:match("^%.SH ") then
      inside = line == ".SH " .. name
    elseif inside then
      lines[#lines + 1] = (line:gsub("\\%-", "-"))
    end
  end
  assert(#lines > 0, "no section " .. name)
  return lines
end

-- The first line after each .TP of a section (the entry's heading).
local function headings(lines)
  local out = {}
  for i, line in ipairs(lines) do
    if line == ".TP" and lines[i + 1] then
      out[#out + 1] = lines[i + 1]:gsub("^%.%a+%s+", "")
    end
  end
  return out
end

local function keys(s)
  local out = {}
  for k in pairs(s) do
    out[#out + 1] = k
  end
  table.sort(out)
  return out
end

describe("the man page", function()
  local page = read("doc/enphase.1")
  local help = sh(child.enphase .. " --help")
  local commands = {} -- the commands of `enphase --help`
  for line in (help:match("\nCommands:\n(.-)\n\n") or ""):gmatch("[^\n]+") do
    local name = line:match("^  (%l+) ")
    if name then
      commands[name] = true
    end
  end

  it("lists the commands of `enphase --help`, and only those", function()
    assert.truthy(next(commands), help)
    local from_man = {}
    for _, h in ipairs(headings(section(page, "COMMANDS"))) do
      from_man[h:match("^[%w-]+")] = true
    end
    assert.same(keys(commands), keys(from_man))
  end)

  it("describes every common option, and no option the CLI does not have", function()
    local from_man = {}
    for _, h in ipairs(headings(section(page, "OPTIONS"))) do
      for opt in h:gmatch("%-%-[%w-]+") do
        from_man[opt] = true
      end
    end
    local common = help:match("\nCommon options:\n(.-)\n\n")
    assert.truthy(common, help)
    for line in common:gmatch("[^\n]+") do
      local opt = line:match("^  %-%-[%w-]+") or line:match("^  %-%a, %-%-[%w-]+")
      if opt then
        opt = opt:match("%-%-[%w-]+")
        assert.truthy(from_man[opt], opt .. " of `enphase --help` is not in doc/enphase.1's OPTIONS")
      end
    end
    -- every option the page names exists in some --help
    local all = help
    for name in pairs(commands) do
      all = all .. sh(child.enphase .. " " .. name .. " --help")
    end
    for opt in pairs(from_man) do
      assert.truthy(all:find(opt, 1, true), opt .. " of doc/enphase.1 is in no `enphase ... --help`")
    end
  end)

  it("lists the ENPHASE_* settings of `enphase --help`, and only those", function()
    local from_help, from_man = {}, {}
    for name in help:gmatch("ENPHASE_[%u_]+") do
      from_help[name] = true
    end
    for _, line in ipairs(section(page, "ENVIRONMENT")) do
      for name in line:gmatch("ENPHASE_[%u_]+") do
        from_man[name] = true
      end
    end
    assert.same(keys(from_help), keys(from_man))
  end)

  it("has the version of `enphase --version`", function()
    local version = sh(child.enphase .. " --version"):match("lua%-enphase (%S+)")
    assert.truthy(version)
    assert.truthy(page:find('\n.TH ENPHASE 1 [^\n]*"lua%-enphase ' .. version:gsub("%.", "%%.") .. '"'))
  end)

  it("renders without a warning from man", function()
    if not os.execute("command -v man >/dev/null && command -v groff >/dev/null") then
      return -- man-db/groff are not installed: lintian checks it when the package is built
    end
    local out = sh("LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l doc/enphase.1 >/dev/null")
    assert.equal("", out)
  end)
end)
