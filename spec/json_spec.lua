-- JSON in and out (lua/enphase/util/json.lua): arrays stay arrays even where
-- lua-cjson has no array_mt (Debian's 2.1.0), and numbers that JSON cannot
-- carry (NaN, Infinity, 1e400) from a server never raise and never reach the
-- output or the token cache.
local json = require("enphase.util.json")
local simulator = require("helpers.sim")
local H = require("helpers.client")
local cli = require("helpers.cli")

local BC = "/service/batteryConfig/api/v1"
local SETTINGS = BC .. "/batterySettings/" .. H.SITE_ID
local SITE_SETTINGS = BC .. "/siteSettings/" .. H.SITE_ID
local SCHEDULES = BC .. "/battery/sites/" .. H.SITE_ID .. "/schedules"

describe("json.encode", function()
  it("writes an empty array as [] and an empty object as {}", function()
    assert.equal("[]", json.encode(json.array()))
    assert.equal("{}", json.encode({}))
    assert.equal('{"a":[],"b":{}}', json.encode({ a = json.array(), b = {} }))
    assert.equal("[1,2,3]", json.encode({ 1, 2, 3 }))
    assert.equal('[[],[1]]', json.encode(json.array({ json.array(), { 1 } })))
  end)

  it("keeps the arrays of a decoded document, empty ones included", function()
    local doc = '{"details":[],"nested":{"list":[[],[ ],{}]},"empty":{}}'
    local back = json.decode(json.encode(assert(json.decode(doc))))
    assert.equal("[]", json.encode(back.details))
    assert.equal("[[],[],{}]", json.encode(back.nested.list))
    assert.equal("{}", json.encode(back.empty))
  end)

  it("does not take brackets inside strings for arrays", function()
    local v = assert(json.decode('{"s":"[]","t":"a\\"[]","u":[]}'))
    assert.equal("[]", v.s)
    assert.equal('a"[]', v.t)
    assert.equal("[]", json.encode(v.u))
  end)

  it("writes integers without a fraction and escapes strings", function()
    assert.equal('{"id":4980363}', json.encode({ id = 4980363.0 }))
    assert.equal('"a\\"b\\\\c\\n\\u0001"', json.encode('a"b\\c\n\1'))
    assert.equal("0.5", json.encode(0.5))
    assert.equal("null", json.encode(json.null))
    assert.equal("true", json.encode(true))
  end)

  it("refuses what JSON cannot carry, without raising", function()
    for _, v in ipairs({ 0 / 0, math.huge, -math.huge, { x = 0 / 0 }, { print } }) do
      local ok, text, err = pcall(json.encode, v)
      assert.is_true(ok, text)
      assert.is_nil(text)
      assert.is_string(err)
    end
    local loop = {}
    loop.self = loop
    local ok, text = pcall(json.encode, loop)
    assert.is_true(ok, text)
    assert.is_nil(text)
  end)
end)

describe("json.decode", function()
  it("refuses NaN, Infinity and numbers out of range", function()
    for _, doc in ipairs({ "[NaN]", '{"a":Infinity}', '{"a":-Infinity}', '{"a":1e400}',
                           '{"a":[-1e999]}', "nan", '{"a":0x10}' }) do
      local ok, v, err = pcall(json.decode, doc)
      assert.is_true(ok, v)
      assert.is_nil(v, doc)
      assert.is_string(err)
    end
    assert.same({ a = 1e300 }, json.decode('{"a":1e300}'))
  end)
end)

describe("numbers JSON cannot carry, from the server", function()
  local sim = simulator.for_file(_ENV)

  local function hostile(path, body)
    sim:fault({ path = path, method = "GET", action = "body", body = body, count = 10 })
  end

  it("make settings() a protocol failure, never an error", function()
    local client = H.new(sim)
    for _, n in ipairs({ "NaN", "Infinity", "-Infinity", "1e400" }) do
      sim:fault({ clear = true })
      hostile(SETTINGS, '{"type":"battery-details","data":{"chargeFromGrid":false,'
        .. '"batteryBackupPercentage":' .. n .. '}}')
      local ok, s, err, kind = pcall(client.settings, client)
      assert.is_true(ok, s)
      assert.is_nil(s)
      assert.equal("protocol", kind, err)
    end
    client:close()
  end)

  it("make `enphase settings --json` exit 1 with a message, no traceback", function()
    hostile(SETTINGS, '{"type":"battery-details","data":{"chargeFromGrid":false,"x":NaN}}')
    local code, out, err = cli.run({ ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD,
      ENPHASE_BASE_URL = sim.base_url }, "settings", "--json", "--no-token-cache")
    assert.equal(1, code, err)
    -- with --json, the failure as one JSON object: no value from the hostile answer
    assert.truthy(out:match('^{"error":"[^\n]*","kind":"protocol"}\n$'), out)
    assert.falsy(out:find("NaN", 1, true), out)
    assert.falsy(err:find("traceback", 1, true), err)
    assert.truthy(err:find("enphase settings:", 1, true), err)
  end)

  it("never reach the token cache", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -m 700 " .. dir))
    local path = dir .. "/session.json"
    hostile(SITE_SETTINGS, '{"type":"success","data":{"showChargeFromGrid":true,'
      .. '"showDischargeToGrid":Infinity,"x":1e400}}')
    local client = H.new(sim, { token_cache = path })
    local ok, done, err, kind = pcall(client.charge_from_grid, client, true)
    assert.is_true(ok, done)
    assert.truthy(done or kind == "protocol", err)
    client:close()
    local f = assert(io.open(path, "rb"))
    local text = f:read("a")
    f:close()
    -- as JSON values, not as letters: a random JWT or cookie may hold "inF"
    for _, value in ipairs({ "%-?[Ii]nf[inity]*", "%-?[Nn]a[Nn]", "1e400" }) do
      assert.falsy(text:find("[:,%[]%s*" .. value .. "%s*[,}%]]"), text)
    end
    assert.truthy(json.decode(text))
    os.execute("rm -rf " .. dir)
  end)

  it("in a schedule list make it a protocol failure", function()
    local client = H.new(sim)
    hostile(SCHEDULES, '{"cfg":{"details":[{"scheduleId":"a","limit":NaN}]}}')
    local ok, list, err, kind = pcall(client.schedules, client)
    assert.is_true(ok, list)
    assert.is_nil(list)
    assert.equal("protocol", kind, err)
    client:close()
  end)
end)

describe("--json output", function()
  local sim = simulator.for_file(_ENV)

  it("prints empty lists as []", function()
    local env = { ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD,
                  ENPHASE_BASE_URL = sim.base_url }
    local code, out, err = cli.run(env, "schedule", "list", "--json", "--no-token-cache")
    assert.equal(0, code, err)
    for _, k in ipairs({ "cfg", "dtg", "rbd" }) do
      assert.truthy(out:find('"' .. k .. '":[]', 1, true), out)
    end
    code, out, err = cli.run(env, "schedule", "clear", "all", "--json", "--no-token-cache")
    assert.equal(0, code, err)
    assert.truthy(out:find('"failures":[]', 1, true), out)
  end)
end)
