-- The client's context (lua/enphase/context.lua) and its public face: every
-- method named in client.lua, the site's time zone as a method.
local simulator = require("helpers.sim")
local H = require("helpers.client")
local procs = require("helpers.procs")
local child = require("helpers.child")

local METHOD_MODULES = {
  "enphase.battery.settings", "enphase.battery.schedules", "enphase.battery.telemetry",
  "enphase.battery.timed", "enphase.battery.stormguard",
}
-- functions of those modules that are helpers of the CLI, not client methods
local NOT_METHODS = { ["enphase.battery.stormguard"] = { check_alert_id = true },
                      ["enphase.battery.settings"] = { put_and_verify = true, read = true } }

describe("client.lua", function()
  it("names each public method of the battery modules on a line of its own", function()
    local text = procs.slurp("lua/enphase/client.lua")
    local missing = {}
    for _, module in ipairs(METHOD_MODULES) do
      for name, fn in pairs(require(module)) do
        local skip = NOT_METHODS[module] and NOT_METHODS[module][name]
        if type(fn) == "function" and not skip
          and not text:find("\n  " .. name .. " = \"" .. module .. "\"", 1, true) then
          missing[#missing + 1] = module .. "." .. name
        end
      end
    end
    table.sort(missing)
    assert.same({}, missing)
  end)

  it("loads a battery module only when one of its methods is called", function()
    local script = [[
      package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
      package.cpath = "]] .. child.cpath .. [[;" .. package.cpath
      local enphase = require("enphase")
      local c = assert(enphase.new({ email = "a@b.c", password = "x", dry_run = true,
        timezone = "Europe/Paris" }))
      assert(type(c.add_schedule) == "function")
      io.write(package.loaded["enphase.battery.schedules"] and "loaded" or "not loaded", " ")
      assert(c:schedules())
      io.write(package.loaded["enphase.battery.schedules"] and "loaded" or "not loaded")
    ]]
    local out = procs.capture(child.lua .. " -e " .. procs.shell_quote(script) .. " 2>&1")
    assert.equal("not loaded loaded", out)
  end)
end)

describe("client:site_timezone()", function()
  local sim = simulator.for_file(_ENV, { args = { "--timezone", "Europe/Paris" } })

  it("learns the zone from the site once, then answers without a request", function()
    local c = H.new(sim)
    assert.equal("Europe/Paris", c:site_timezone())
    local before = #sim:log()
    assert.equal("Europe/Paris", c:site_timezone())
    assert.equal("Europe/Paris", c:timezone())
    assert.same({}, H.since(sim, before))
    c:close()
  end)

  it("answers the given zone without a request", function()
    local before = #sim:log()
    local c = H.new(sim, { timezone = "America/New_York" })
    assert.equal("America/New_York", c:site_timezone())
    assert.same({}, H.since(sim, before))
    c:close()
  end)

  it("in a dry run, without a known zone, is an input failure and sends nothing", function()
    local before = #sim:log()
    local c = H.new(sim, { dry_run = true })
    local zone, err, kind = c:site_timezone()
    assert.is_nil(zone)
    assert.equal("input", kind)
    assert.truthy(err:find("option timezone", 1, true), err)
    assert.same({}, H.since(sim, before))
  end)

  it("reports a failed login as the failure, not as an unknown zone", function()
    local c = H.new(sim, { password = "wrong-password" })
    local zone, err, kind = c:site_timezone()
    assert.is_nil(zone)
    assert.equal("auth", kind, err)
    assert.falsy(err:find("wrong-password", 1, true))
  end)
end)

describe("the library's modules", function()
  -- `x._name` where x is not `self`: a read (or write) of another object's
  -- private field. client.lua builds the client; the simulator is apart.
  it("read no other module's private fields: 0 reads of `x._name` outside client.lua", function()
    local reads = {}
    for _, path in ipairs(procs.library_files()) do
      if path ~= "lua/enphase/client.lua" then
        local n = 0
        for line in procs.slurp(path):gmatch("[^\n]*") do
          n = n + 1
          local code = line:gsub("%-%-.*$", "")
          for object, field in code:gmatch("([%a_][%w_]*)%.(_[%l][%w_]*)") do
            if object ~= "self" then
              reads[#reads + 1] = ("%s:%d: %s.%s"):format(path, n, object, field)
            end
          end
        end
      end
    end
    assert.same({}, reads)
  end)

  -- (the CLI's own per-run table is also called ctx: these look for
  -- `x.ctx.field = ...`, a write through a client's context)
  it("change what the context holds only through its owners' methods", function()
    local writes = {}
    for _, path in ipairs(procs.library_files()) do
      if path ~= "lua/enphase/client.lua" and path ~= "lua/enphase/context.lua" then
        local text = procs.slurp(path):gsub("%-%-[^\n]*", "")
        for target in text:gmatch("([%w_]+%.ctx%.[%w_]+)%s*=[^=]") do
          writes[#writes + 1] = path .. ": " .. target
        end
        for target in text:gmatch("([%w_]+%.ctx%.[%w_]+%.[%w_]+)%s*=[^=]") do
          writes[#writes + 1] = path .. ": " .. target
        end
      end
    end
    assert.same({}, writes)
  end)
end)
