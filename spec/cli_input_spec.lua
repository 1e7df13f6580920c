-- The command line never drops a word and never hides the real error.
local simulator = require("helpers.sim")
local H = require("helpers.client")
local cli = require("helpers.cli")
local json = require("cjson")

describe("the enphase command line", function()
  local sim = simulator.for_file(_ENV)
  local env

  before_each(function()
    env = { ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD, ENPHASE_BASE_URL = sim.base_url }
  end)

  local function run(...)
    local argv = { ... }
    argv[#argv + 1] = "--no-token-cache"
    return cli.run(env, table.unpack(argv))
  end

  it("refuses extra words and unknown short options with exit 2, sending nothing", function()
    local cases = {
      { "status", "extra" }, { "status", "-x" }, { "settings", "on" }, { "token", "--json", "x" },
      { "cfg", "on", "now" }, { "rbd", "off", "-f" }, { "reserve", "50", "60" },
      { "profile", "backup_only", "extra", "--reserve", "20" },
      { "schedule", "list", "extra" }, { "schedule", "clear", "all", "now" },
      { "schedule", "delete", "abc-123", "def-456" },
      { "schedule", "update", "abc-123", "--days", "1", "2" },
      { "schedule", "add", "--type", "CFG", "--start", "02:00", "--end", "05:00", "--days", "4",
        "5", "6" },
    }
    for _, argv in ipairs(cases) do
      local code, out, err = cli.run(env, table.unpack(argv))
      local line = table.concat(argv, " ")
      assert.equal(2, code, line .. ": " .. err)
      assert.equal("", out, line)
      assert.falsy(err:find("traceback", 1, true), err)
    end
    assert.equal(0, #sim:log())
  end)

  it("names the word it will not take", function()
    local _, _, err = run("schedule", "add", "--type", "CFG", "--start", "02:00", "--end",
      "05:00", "--days", "4", "5", "6")
    assert.truthy(err:find('"5"', 1, true), err)
    assert.truthy(err:find("--days 4,5,6", 1, true), err)
    _, _, err = run("status", "-x")
    assert.truthy(err:find("-x", 1, true), err)
  end)

  it("takes days separated by commas or spaces, in one word", function()
    local code, id, err = run("schedule", "add", "--type", "CFG", "--start", "02:00", "--end",
      "05:00", "--days", "4 5, 6", "--tz", "Europe/London")
    assert.equal(0, code, err)
    id = id:gsub("\n$", "")
    local _, out = run("schedule", "list", "--json")
    local list = json.decode(out)
    assert.equal(id, list.cfg[1].id)
    assert.same({ 4, 5, 6 }, list.cfg[1].days)
  end)

  it("reports a login failure, not a missing time zone, when --tz is not given", function()
    local code, _, err = cli.run({ ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = "wrong",
      ENPHASE_BASE_URL = sim.base_url }, "schedule", "add", "--type", "CFG",
      "--start", "02:00", "--end", "05:00", "--days", "1", "--no-token-cache")
    assert.equal(1, code, err)
    assert.falsy(err:find("timezone", 1, true), err)
    assert.truthy(err:lower():find("password", 1, true), err)
  end)

  it("reports a network failure, not a missing time zone, when --tz is not given", function()
    local code, _, err = cli.run({ ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = H.PASSWORD,
      ENPHASE_BASE_URL = "http://127.0.0.1:1" }, "schedule", "add", "--type",
      "CFG", "--start", "02:00", "--end", "05:00", "--days", "1", "--no-token-cache")
    assert.equal(1, code, err)
    assert.falsy(err:find("timezone", 1, true), err)
  end)

  it("never repeats a 100 KB argument in full", function()
    local huge = ("9"):rep(100 * 1024)
    for _, argv in ipairs({
      { "schedule", "add", "--type", "CFG", "--start", huge, "--end", "05:00", "--days", "1" },
      { "schedule", "add", "--type", huge, "--start", "02:00", "--end", "05:00", "--days", "1" },
      { "schedule", "delete", huge }, { "reserve", huge }, { huge }, { "status", "--" .. huge },
      { "status", huge }, { "sim", "--" .. huge }, { "sim", "--port", huge },
    }) do
      local code, _, err = run(table.unpack(argv))
      assert.equal(2, code, err:sub(1, 200))
      assert.truthy(#err < 4096, ("%s...: %d bytes on stderr"):format(argv[1], #err))
    end
    assert.equal(0, #sim:log())
  end)

  it("still refuses a bad schedule before logging in", function()
    local code, _, err = cli.run({ ENPHASE_EMAIL = H.EMAIL, ENPHASE_PASSWORD = "wrong",
      ENPHASE_BASE_URL = sim.base_url }, "schedule", "add", "--type", "CFG",
      "--start", "25:00", "--end", "05:00", "--days", "1", "--no-token-cache")
    assert.equal(2, code, err)
    assert.equal(0, #sim:log())
  end)

  it("enphase sim refuses --sites 100000000 at once with a usage error", function()
    local t0 = os.time()
    local code, out, err = cli.run({}, "sim", "--sites", "100000000", "--port", "0")
    assert.equal(2, code, err)
    assert.equal("", out)
    assert.truthy(err:find("--sites must be at most", 1, true), err)
    assert.truthy(os.time() - t0 < 10)
  end)

  it("--verbose logs on stderr with secrets redacted", function()
    local code, out, err = cli.run(env, "token", "--json", "--verbose", "--no-token-cache")
    assert.equal(0, code, err)
    local t = json.decode(out)
    assert.truthy(err:find("enphase: info: ", 1, true), err)
    assert.truthy(err:find("logging in", 1, true), err)
    assert.falsy(err:find(t.token, 1, true), err)
    assert.falsy(err:find(t.xsrf, 1, true), err)
    assert.falsy(err:find(H.PASSWORD, 1, true), err)
    -- without it, nothing but the answer
    code, out, err = cli.run(env, "status", "--no-token-cache")
    assert.truthy(out:find("OK", 1, true), out)
    assert.equal(0, code, err)
    assert.equal("", err)
  end)

  it("shows what is wrong with the token cache, and goes on", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -m 700 " .. dir))
    local path = dir .. "/session.json"
    local f = assert(io.open(path, "w"))
    f:write('{"version":1,"tok')
    f:close()
    assert(os.execute("chmod 600 " .. path))
    local code, _, err = cli.run(env, "status", "--token-cache", path)
    assert.equal(0, code, err)
    assert.truthy(err:find("enphase: warn: token cache " .. path .. " ignored: not JSON", 1, true),
      err)
    os.execute("rm -rf " .. dir)
  end)

  it("documents ENPHASE_CA_FILE and --verbose in --help", function()
    local _, out = cli.run({}, "status", "--help")
    assert.truthy(out:find("ENPHASE_CA_FILE", 1, true), out)
    assert.truthy(out:find("--verbose", 1, true), out)
  end)
end)
