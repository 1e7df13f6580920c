-- A small router: routes are (method, Lua pattern anchored on the whole
-- path, handler). find() returns the handler and the captures, or nil and
-- "method" when the path exists under another method, or nil and "path".
local M = {}

local Router = {}
Router.__index = Router

function M.new()
  return setmetatable({ routes = {} }, Router)
end

function Router:add(method, pattern, handler)
  self.routes[#self.routes + 1] = {
    method = method,
    pattern = "^" .. pattern .. "$",
    handler = handler,
  }
  return self
end

function Router:find(method, path)
  local other_method = false
  for _, r in ipairs(self.routes) do
    local caps = { path:match(r.pattern) }
    if caps[1] ~= nil then
      if r.method == method or (r.method == "GET" and method == "HEAD") then
        if caps[1] == path and not r.pattern:find("%(") then
          caps = {}
        end
        return r.handler, caps
      end
      other_method = true
    end
  end
  return nil, other_method and "method" or "path"
end

return M
