-- The request budget (budget.lua) and the reads kept for max_age
-- (reads.lua): what every process of an account may send in an hour.
local child = require("helpers.child")
local simulator = require("helpers.sim")
local H = require("helpers.client")
local procs = require("helpers.procs")
local store = require("enphase.store")
local enphase = require("enphase")
local json = require("cjson")

describe("the request budget", function()
  local sim = simulator.for_file(_ENV)
  local dir

  before_each(function()
    dir = procs.tmpdir()
  end)

  after_each(function()
    procs.rmdir(dir)
  end)

  local IDS = { site_id = H.SITE_ID, user_id = H.USER_ID }

  local function with(extra)
    local t = {}
    for k, v in pairs(IDS) do
      t[k] = v
    end
    for k, v in pairs(extra) do
      t[k] = v
    end
    return t
  end

  it("is a documented error kind", function()
    assert.is_string(enphase.error_kinds.budget)
  end)

  it("refuses the call that would exceed it, sending nothing, until the hour slides", function()
    local client, probe = H.new(sim, with({ budget = 6 }))
    -- the login's 3 requests, then one per read
    for _ = 1, 3 do
      assert.truthy(client:settings())
    end
    assert.equal(6, #sim:log())
    local st, err, kind = client:settings()
    assert.is_nil(st)
    assert.equal("budget", kind)
    assert.matches("not sent, the account's request budget is spent (6 of 6 requests in 3600 s)",
      err, 1, true)
    assert.matches("room again in 3600 s", err, 1, true)
    assert.equal(6, #sim:log())
    probe.advance(1800)
    assert.equal("budget", select(3, client:profile()))
    assert.equal(6, client:status().budget.used)
    probe.advance(1801)
    assert.truthy(client:settings())
    assert.equal(7, #sim:log())
    assert.same({ used = 1, limit = 6, window = 3600 }, client:status().budget)
  end)

  it("never starts a login it cannot pay for", function()
    local client = H.new(sim, with({ budget = 2 }))
    local _, err, kind = client:settings()
    assert.equal("budget", kind)
    assert.matches("^login: not sent", err)
    assert.equal(0, #sim:log())
  end)

  it("is shared by the clients of one token cache, as by processes", function()
    local clock = function()
      return os.time()
    end
    local opts = with({ budget = 8, token_cache = dir .. "/c/session.json", clock = clock })
    local a = H.new(sim, opts)
    local b = H.new(sim, opts)
    for _ = 1, 3 do
      assert.truthy(a:settings())
    end
    assert.truthy(b:settings())
    assert.truthy(b:settings())
    assert.equal("budget", select(3, a:settings()))
    assert.equal("budget", select(3, b:profile()))
    assert.equal(8, #sim:log())
    assert.equal(8, b:status().budget.used)
    a:close()
    b:close()
  end)

  it("shows in `enphase status`", function()
    local env = { ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD,
                  ENPHASE_BASE_URL = sim.base_url, ENPHASE_TOKEN_CACHE = dir .. "/cli/s.json",
                  ENPHASE_BUDGET = "50" }
    local r = procs.run(dir, env, { "status" })
    assert.equal(0, r.code, r.err)
    assert.matches("request budget:%s+7 of 50 requests in the last 3600 s", r.out)
    r = procs.run(dir, env, { "status", "--json" })
    assert.same({ used = 7, limit = 50, window = 3600 }, json.decode(r.out).budget)
    env.ENPHASE_BUDGET = "lots"
    r = procs.run(dir, env, { "status" })
    assert.equal(2, r.code)
    assert.matches("ENPHASE_BUDGET must be a number", r.err, 1, true)
  end)

  it("holds for 8 processes hammering one account: never exceeded, every refusal typed", function()
    local limit, calls = 40, 15
    local script = dir .. "/hammer.lua"
    local f = assert(io.open(script, "w"))
    f:write([[
      package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
      package.cpath = "]] .. child.cpath .. [[;" .. package.cpath
      local enphase = require("enphase")
      local client = assert(enphase.new({
        email = os.getenv("E_EMAIL"), password = os.getenv("E_PASSWORD"),
        base_url = os.getenv("E_BASE_URL"), token_cache = os.getenv("E_CACHE"),
        budget = tonumber(os.getenv("E_BUDGET")), timeout = 10,
      }))
      for _ = 1, tonumber(os.getenv("E_CALLS")) do
        local ok, _, kind = client:settings()
        io.write(ok and "ok" or kind, "\n")
      end
      client:close()
    ]])
    f:close()
    local t0 = store.monotonic()
    local results = procs.run_many(dir, 8, 8, function()
      return { E_EMAIL = H.EMAIL, E_PASSWORD = H.PASSWORD, E_BASE_URL = sim.base_url,
               E_CACHE = dir .. "/shared/session.json", E_BUDGET = tostring(limit),
               E_CALLS = tostring(calls) }, { script = script }
    end)
    local seconds = store.monotonic() - t0
    local counts = {}
    for _, r in ipairs(results) do
      assert.equal(0, r.code, r.err)
      for line in r.out:gmatch("[^\n]+") do
        counts[line] = (counts[line] or 0) + 1
      end
    end
    local sent = sim:state().requests
    assert.truthy(sent <= limit, sent)
    assert.same({ "budget", "ok" }, (function()
      local keys = {}
      for k in pairs(counts) do
        keys[#keys + 1] = k
      end
      table.sort(keys)
      return keys
    end)())
    assert.equal(8 * calls, counts.ok + counts.budget)
    -- one login (and discovery) for all, then one request per read that went through
    assert.equal(1, #sim:requests_matching("POST", "/login/login"))
    assert.equal(counts.ok, #sim:requests_matching("GET", "/batterySettings/"))
    assert.truthy(sent >= limit - 2, sent)
    print(("\n  8 processes x %d reads, budget %d: %d sent, %d ok, %d refused as budget, %.1f s")
      :format(calls, limit, sent, counts.ok, counts.budget, seconds))
  end)
end)

describe("reads kept for max_age", function()
  local sim = simulator.for_file(_ENV)

  it("answers settings and profile from the ledger while younger, forgets them after a write",
    function()
      local client, probe = H.new(sim, { site_id = H.SITE_ID, user_id = H.USER_ID, max_age = 300 })
      local first = assert(client:settings())
      assert.truthy(client:profile())
      local n = #sim:log()
      probe.advance(299)
      assert.same(first, client:settings())
      assert.truthy(client:profile())
      assert.equal(n, #sim:log())
      probe.advance(2)
      assert.truthy(client:settings())
      assert.equal(n + 1, #sim:log())
      assert.truthy(client:charge_from_grid(true))
      n = #sim:log()
      assert.is_true(client:settings().charge_from_grid)
      assert.equal(n + 1, #sim:log())
    end)

  it("is off by default", function()
    local client = H.new(sim, { site_id = H.SITE_ID, user_id = H.USER_ID })
    assert.truthy(client:settings())
    local n = #sim:log()
    assert.truthy(client:settings())
    assert.equal(n + 1, #sim:log())
  end)
end)
