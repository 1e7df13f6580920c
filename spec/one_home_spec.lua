-- One home for the JWT and one for the site ids (issue 14, item 3): the
-- JWT lives in the session's JWT record (account/session.lua), the ids in
-- the site's facts (account/site.lua); the C session reads both where they
-- live and keeps no copy. After a login, a refresh, a store reload, a 401
-- answered with a new login and a site given as an option, what the C
-- request path sends and what the Lua side says are the same values, and
-- no Lua field outside those two homes holds the token or an id.
local simulator = require("helpers.sim")
local H = require("helpers.client")

-- Every field reachable from `root` through tables whose value matches
-- (`match(key, value)`): a list of "path key" strings, one per table and
-- key (a table reached twice is listed once, under the first path), and
-- the tables holding them. Metatables (the classes) are not walked;
-- functions and userdata are not entered.
local function holders(root, match)
  local found, tables, seen = {}, {}, {}
  local function walk(t, path)
    if seen[t] then
      return
    end
    seen[t] = true
    for k, v in pairs(t) do
      if match(k, v) then
        found[#found + 1] = path .. " " .. tostring(k)
        tables[#tables + 1] = t
      end
      if type(v) == "table" then
        walk(v, path .. "." .. tostring(k))
      end
    end
  end
  walk(root, "client")
  return found, tables
end

local ID_KEYS = { site_id = true, user_id = true, siteId = true, userId = true }

-- The homes: exactly one field holds the token, exactly one each id.
local function assert_one_home(client)
  local token = client.ctx.session:secrets().token
  assert.is_string(token)
  local found, tables = holders(client, function(_, v)
    return v == token
  end)
  assert.equal(1, #found, table.concat(found, ", "))
  assert.equal("token", found[1]:match("(%S+)$"))
  assert.equal(rawget(client.ctx.session, "_jwt"), tables[1]) -- the session's JWT record
  local site_id, user_id = client.ctx.site:ids()
  found, tables = holders(client, function(k, v)
    return ID_KEYS[k] == true and (v == site_id or v == user_id)
  end)
  assert.equal(2, #found, table.concat(found, ", "))
  assert.equal(client.ctx.site, tables[1])
  assert.equal(client.ctx.site, tables[2])
end

-- What the C request path sends (the simulator's log of the last battery
-- call) is what the Lua side holds.
local function assert_same_values(client, sim)
  local site_id, user_id = client.ctx.site:ids()
  local info = client.ctx.session:info()
  assert.same({ site_id, user_id }, { info.site_id, info.user_id })
  local token = client.ctx.session:secrets().token
  local last
  for _, e in ipairs(sim:log()) do
    if e.path:find("/batterySettings/", 1, true) then
      last = e
    end
  end
  assert.truthy(last, "no battery call was sent")
  assert.equal(token, last.headers["e-auth-token"])
  assert.equal(tostring(user_id), last.headers["username"])
  assert.truthy(last.path:find("/batterySettings/" .. site_id, 1, true), last.path)
  -- the C session's own view, read through its accessor: the same
  local plan = client.ctx.session:plan("settings_get")
  assert.truthy(plan.path:find("/batterySettings/" .. site_id, 1, true))
  assert.equal(tostring(user_id), plan.headers.username)
  assert.equal(info.exp, client.ctx.session:open():info().exp)
end

describe("one home for the JWT and the site ids", function()
  local sim = simulator.for_file(_ENV)
  local dir

  before_each(function()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -m 700 " .. simulator.shell_quote(dir)))
  end)

  after_each(function()
    os.execute("rm -rf " .. simulator.shell_quote(dir))
  end)

  it("after a login, a refresh, a store reload and a 401 re-login", function()
    local cache = dir .. "/session.json"
    local client, probe = H.new(sim, { token_cache = cache })
    assert(client:settings())
    assert_one_home(client)
    assert_same_values(client, sim)
    local first = client.ctx.session:secrets().token

    -- a refresh: the JWT near its end is renewed from the web session
    local exp = client.ctx.session:info().exp
    sim:clock(exp - os.time() - 30)
    probe.advance(exp - os.time() - 30)
    assert(client:settings({ max_age = 0 }))
    local second = client.ctx.session:secrets().token
    assert.are_not.equal(first, second)
    assert_one_home(client)
    assert_same_values(client, sim)

    -- a 401: the JWT and the web session revoked, a new login
    sim:revoke({ jwt = true })
    sim:clear_sessions()
    assert(client:settings({ max_age = 0 }))
    local third = client.ctx.session:secrets().token
    assert.are_not.equal(second, third)
    assert_one_home(client)
    assert_same_values(client, sim)
    client:close()
    assert.same({}, (holders(client, function(_, v)
      return v == third
    end)))

    -- a store reload: a new process takes the saved session; before its C
    -- session exists, and after, the one home holds what the file held
    local again = H.new(sim, { token_cache = cache })
    assert.is_false(again.ctx.session:is_open())
    assert.equal(third, again.ctx.session:secrets().token)
    assert_one_home(again)
    assert(again:settings({ max_age = 0 }))
    assert.is_true(again.ctx.session:is_open())
    assert_one_home(again)
    assert_same_values(again, sim)
    again:close()
  end)

  it("with the ids given as options: the options win and the C path sends them", function()
    sim:account({ email = "other@example.com", password = "pw-other", site_id = 7101, user_id = 8101 })
    local client = H.new(sim, { email = "other@example.com", password = "pw-other",
                                site_id = 7101, user_id = 8101 })
    assert(client:settings())
    assert_same_values(client, sim)
    assert.equal(7101, (client.ctx.site:ids()))
    client:close()
  end)

  it("a switch of site by option over a cached session: the C path plans with the option's ids",
    function()
    local cache = dir .. "/session.json"
    local first = H.new(sim, { token_cache = cache })
    assert(first:settings())
    first:close()
    local switched = H.new(sim, { token_cache = cache, site_id = 999, user_id = 888 })
    assert.same({ 999, 888 }, { switched.ctx.site:ids() })
    local plan = switched.ctx.session:plan("settings_get")
    assert.equal("/service/batteryConfig/api/v1/batterySettings/999", plan.path)
    assert.equal("888", plan.headers.username)
    assert.same({ site_id = 999, user_id = 888 }, { site_id = switched.ctx.session:info().site_id,
                                                    user_id = switched.ctx.session:info().user_id })
    -- the cached ids are held nowhere in the client
    assert.same({}, (holders(switched, function(k, v)
      return ID_KEYS[k] == true and (v == H.SITE_ID or v == H.USER_ID)
    end)))
    switched:close()
  end)

  it("the C session has no ids of its own: set_ids is gone, and discovery only reports", function()
    local client = H.new(sim)
    assert(client:settings())
    local c = client.ctx.session:open()
    assert.is_nil(c.set_ids)
    assert.equal(H.SITE_ID, c:discover_site())
    assert.equal(H.SITE_ID, (client.ctx.site:ids()))
    client:close()
  end)
end)
