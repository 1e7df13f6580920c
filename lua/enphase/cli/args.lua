--- A small argv parser: words, `--name value`, `--name=value` and flags.
local M = {}

--- Parses `argv` (a list of strings) with `spec`, a table whose keys are
-- option names and values "flag" or "value". Returns `{words={...},
-- options={...}}` or `nil, message`.
function M.parse(argv, spec)
  local words, options = {}, {}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "--" then
      for j = i + 1, #argv do
        words[#words + 1] = argv[j]
      end
      break
    end
    local name, inline = a:match("^%-%-([%w%-]+)=(.*)$")
    name = name or a:match("^%-%-([%w%-]+)$")
    if a == "-h" then
      name = "help"
    elseif not name and a:match("^%-%a") then
      return nil, ("unknown option %s"):format(a:sub(1, 40))
    end
    if name then
      local kind = spec[name]
      if not kind then
        return nil, ("unknown option --%s"):format(name)
      elseif kind == "flag" then
        if inline then
          return nil, ("option --%s takes no value"):format(name)
        end
        options[name] = true
      else
        local value = inline
        if not value then
          i = i + 1
          value = argv[i]
          if value == nil then
            return nil, ("option --%s needs a value"):format(name)
          end
        end
        options[name] = value
      end
    else
      words[#words + 1] = a
    end
    i = i + 1
  end
  return { words = words, options = options }
end

--- A usage message for the words of `words` after the first `max`, or nil
-- when there are none: a word is never silently dropped.
function M.extra_words(words, max, options)
  if #words <= max then
    return nil
  end
  local shown = {}
  for i = max + 1, math.min(#words, max + 3) do
    shown[#shown + 1] = ("%q"):format(words[i]:sub(1, 40))
  end
  local msg = ("unexpected argument%s %s%s"):format(#words > max + 1 and "s" or "",
    table.concat(shown, " "), #words > max + 3 and " ..." or "")
  if options and options.days then
    msg = msg .. " (give the days as one word: --days 4,5,6)"
  end
  return msg
end

return M
