-- One vocabulary of failure kinds: every kind the Lua layer can return is
-- documented in enphase.errors.kinds (the C kinds are checked against
-- src/errors.h in core_spec). The kinds are found by reading the sources,
-- not from a list kept by hand.
local errors = require("enphase.errors")
local enphase = require("enphase")

local procs = require("helpers.procs")

-- A file that must be there.
local function read(path)
  return assert(procs.slurp(path), path)
end

-- The source without comments, strings kept (a crude Lua lexer: enough
-- for our own files).
local function strip_comments(src)
  local out, i, n = {}, 1, #src
  while i <= n do
    local c = src:sub(i, i)
    if src:sub(i, i + 1) == "--" then
      local level = src:match("^%-%-%[(=*)%[", i)
      local j
      if level then
        j = select(2, src:find("]" .. level .. "]", i, true)) or n
      else
        j = (src:find("\n", i, true) or (n + 1)) - 1
      end
      i = j + 1
    elseif c == '"' or c == "'" then
      local j = i + 1
      while j <= n do
        local d = src:sub(j, j)
        if d == "\\" then
          j = j + 2
        elseif d == c then
          break
        else
          j = j + 1
        end
      end
      out[#out + 1] = src:sub(i, j)
      i = j + 1
    else
      local level = src:match("^%[(=*)%[", i)
      if level then
        local j = select(2, src:find("]" .. level .. "]", i, true)) or n
        out[#out + 1] = src:sub(i, j)
        i = j + 1
      else
        out[#out + 1] = c
        i = i + 1
      end
    end
  end
  return table.concat(out)
end

-- From `pos` (just after a comma), skips one expression; returns the
-- position after it (at a top-level comma or closing bracket), or nil.
local function skip_expression(code, pos)
  local depth, i, n = 0, pos, #code
  while i <= n do
    local c = code:sub(i, i)
    if c == '"' or c == "'" then
      local j = i + 1
      while j <= n and code:sub(j, j) ~= c do
        j = j + (code:sub(j, j) == "\\" and 2 or 1)
      end
      i = j
    elseif c == "(" or c == "{" or c == "[" then
      depth = depth + 1
    elseif c == ")" or c == "}" or c == "]" then
      if depth == 0 then
        return i
      end
      depth = depth - 1
    elseif c == "," and depth == 0 then
      return i
    elseif code:sub(i, i + 2) == "end" and depth == 0 and code:sub(i - 1, i - 1):match("%s") then
      return nil
    end
    i = i + 1
  end
  return nil
end

-- Every kind the code can hand back: `nil, message, "kind"` (returned or
-- packed), `errors.fail("kind", ...)`, and `kind = "kind"` assignments or
-- table fields (a failure list's entries).
local function kinds_in(code)
  local found = {}
  local pos = 1
  while true do
    local s, e = code:find("%f[%w_]nil%s*,", pos)
    if not s then
      break
    end
    local after = skip_expression(code, e + 1)
    if after and code:sub(after, after) == "," then
      local kind = code:match('^%s*"([%l_]+)"', after + 1)
      if kind then
        found[kind] = true
      end
    end
    pos = e + 1
  end
  for kind in code:gmatch('fail%(%s*"([%l_]+)"') do
    found[kind] = true
  end
  for kind in code:gmatch('%f[%w_][%w_]*kind%s*=%s*"([%l_]+)"') do
    found[kind] = true
  end
  return found
end

describe("error kinds", function()
  it("every kind the Lua layer returns is documented in errors.kinds", function()
    local undocumented, all = {}, {}
    for _, path in ipairs(procs.library_files()) do
      for kind in pairs(kinds_in(strip_comments(read(path)))) do
        all[kind] = true
        if not errors.kinds[kind] then
          undocumented[#undocumented + 1] = kind .. " (" .. path .. ")"
        end
      end
    end
    table.sort(undocumented)
    assert.same({}, undocumented)
    -- the scan sees what it must (so it cannot pass by finding nothing)
    for _, kind in ipairs({ "input", "protocol", "conflict", "not_applied", "pending", "unsupported",
                            "error" }) do
      assert.is_true(all[kind], kind)
    end
  end)

  it("the scan finds the kinds of each shape it reads", function()
    local code = strip_comments([[
      -- return nil, "x", "commented"
      return nil, ("a, b"):format(f(1, 2)), "one"
      finish(op, pack(nil, message, "two", debug.traceback(co)))
      return errors.fail("three", "%s", x)
      failures[#failures + 1] = { message = m, kind = "four" }
      if kind == "session" then kind = "five" end
    ]])
    local found = kinds_in(code)
    assert.same({ one = true, two = true, three = true, four = true, five = true }, found)
  end)

  it("the word kind means a failure's kind only: the control (cfg, dtg, rbd) is the mode", function()
    local offences = {}
    local function scan(path, text)
      local n = 0
      for line in (text .. "\n"):gmatch("([^\n]*)\n") do
        n = n + 1
        if line:find("kind") and (line:find("[\"`']cfg[\"`']") or line:find("[\"`']dtg[\"`']")) then
          offences[#offences + 1] = path .. ":" .. n .. ": " .. line
        end
      end
    end
    scan("README.md", read("README.md"))
    for _, path in ipairs(procs.library_files()) do
      scan(path, read(path))
    end
    assert.same({}, offences)
    local settings_text = read("lua/enphase/battery/validate.lua")
    assert.truthy(settings_text:find("function M.mode(", 1, true))
  end)

  it("are the ones enphase.error_kinds shows users, and the README's table lists each", function()
    assert.equal(errors.kinds, enphase.error_kinds)
    assert.is_string(errors.kinds.error)
    local readme = read("README.md")
    for kind in pairs(errors.kinds) do
      assert.truthy(readme:find("\n| `" .. kind .. "` |", 1, true), kind .. " has no row in README.md")
    end
  end)
end)
