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

return M
