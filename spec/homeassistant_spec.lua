-- The README's Home Assistant YAML, run as Home Assistant would run it (its
-- commands through /bin/sh, HA's time limits) against the simulator, and
-- its outputs held against the seed's own scripts run on the same simulator.
local simulator = require("helpers.sim")
local commands = require("helpers.commands")
local seed = require("helpers.seed")
local H = require("helpers.client")
local json = require("enphase.util.json")

local CONFIG_IN_README = "/config/enphase.conf"

-- The README's Home Assistant section: its sensors {name, command,
-- attributes} and its shell_commands (name -> command).
local function readme_yaml()
  local f = assert(io.open(simulator.ROOT .. "/README.md"))
  local text = f:read("a")
  f:close()
  local section = assert(text:match("\n## Home Assistant\n(.-)\n## "), "no Home Assistant section")
  local yaml = assert(section:match("```yaml\n(.-)```"), "no yaml block")
  local sensors, shell, in_shell = {}, {}, false
  for line in (yaml .. "\n"):gmatch("([^\n]*)\n") do
    if line:match("^shell_command:") then
      in_shell = true
    elseif in_shell then
      local name, command = line:match('^  ([%w_]+): "(.*)"$')
      if name then
        shell[name] = command
      end
    else
      local name = line:match('^%s+name: "(.*)"$')
      if name then
        sensors[#sensors + 1] = { name = name }
      end
      local command = line:match('^%s+command: "(.*)"$')
      if command then
        sensors[#sensors].command = command
      end
      local attrs = line:match("^%s+json_attributes: %[(.*)%]$")
      if attrs then
        sensors[#sensors].attributes = {}
        for a in attrs:gmatch("[%w_]+") do
          table.insert(sensors[#sensors].attributes, a)
        end
      end
      local template = line:match('^%s+value_template: "{{ value_json%.([%w_]+) }}"$')
      if template then
        sensors[#sensors].value = template
      end
    end
  end
  return sensors, shell
end

-- The keys of a flat JSON object line, in order, and the Lua type of each.
local function shape(line)
  local keys = {}
  for key in line:gmatch('[{,]"([%w_]+)":') do
    keys[#keys + 1] = key
  end
  local v = assert(json.decode(line), line)
  local types = {}
  for _, k in ipairs(keys) do
    types[k] = math.type(v[k]) or type(v[k])
  end
  return keys, types, v
end

describe("the Home Assistant set-up in the README", function()
  local sim = simulator.for_file(_ENV)
  local sensors, shell = readme_yaml()
  local box

  local function sensor(name)
    for _, s in ipairs(sensors) do
      if s.name == name then
        return s
      end
    end
    error("no sensor " .. name .. " in the README")
  end

  -- HA renders the data into the template, then runs the command.
  local function render(command, data)
    return (command:gsub("{{ ([%w_]+) }}", function(name)
      return assert(data[name], "no data for " .. name)
    end):gsub(CONFIG_IN_README, box.config))
  end

  -- A command_line sensor's run: exit 0 and one JSON object within 15 s.
  local function read_sensor(name)
    local s = sensor(name)
    local code, out, err, seconds = box:run(render(s.command, {}), { timeout = 15 })
    assert.equal(0, code, err)
    assert.truthy(seconds < 15)
    assert.equal(1, select(2, out:gsub("\n", "")), out)
    local value = assert(json.decode(out), out)
    assert.equal("table", type(value))
    assert.falsy(json.is_array(value) or value[1] ~= nil, "a JSON object, not an array")
    for _, a in ipairs(s.attributes or {}) do
      assert.is_not_nil(value[a], name .. " has no attribute " .. a)
    end
    if s.value then
      assert.is_not_nil(value[s.value], name .. " has no " .. s.value)
      assert.truthy(#tostring(value[s.value]) <= 255)
    end
    return out:gsub("\n$", ""), value
  end

  -- A shell_command's run: exit 0 within HA's 60 s.
  local function call(name, data)
    local command = assert(shell[name], "no shell_command " .. name)
    local code, out, err, seconds = box:run(render(command, data or {}), { timeout = 60 })
    assert.equal(0, code, name .. ": " .. err)
    assert.truthy(seconds < 60)
    return out
  end

  -- The seed's two scripts, run as the seed runs them.
  local function seed_outputs()
    local token_line = select(2, box:run("bash " .. simulator.shell_quote(
      seed.token_script(box.dir, sim.base_url, H.EMAIL, H.PASSWORD))))
    local t = assert(json.decode(token_line), token_line)
    local list = seed.schedules_script(box.dir, sim.base_url, H.SITE_ID, H.USER_ID)
    local schedules_line = select(2, box:run("bash " .. simulator.shell_quote(list),
      { env = { ENPHASE_AUTH = t.token, ENPHASE_XSRF = t.xsrf } }))
    return token_line:gsub("\n$", ""), schedules_line:gsub("\n$", "")
  end

  before_each(function()
    box = commands.box(sim)
  end)

  after_each(function()
    box:close()
  end)

  it("has the three sensors and the shell_commands that replace the seed's", function()
    assert.same({ "Enphase JWT", "Enphase Schedules", "Enphase Battery" }, {
      sensors[1].name, sensors[2].name, sensors[3].name })
    for _, name in ipairs({ "enphase_cfg", "enphase_dtg", "enphase_rbd", "enphase_add_schedule",
                            "enphase_delete_schedule", "enphase_clear_schedules" }) do
      assert.truthy(shell[name], name)
      -- HA renders templates only after the command's first word
      assert.truthy(shell[name]:match("^enphase "), name)
    end
  end)

  it("prints the seed's token line: its keys in its order, of its types", function()
    local ours = read_sensor("Enphase JWT")
    local theirs = seed_outputs()
    local our_keys, our_types, v = shape(ours)
    local seed_keys, seed_types, w = shape(theirs)
    assert.same(seed_keys, our_keys)
    assert.same(seed_types, our_types)
    assert.same({ w.status, w.user_id, w.battery_id }, { v.status, v.user_id, v.battery_id })
    -- warm: the next reading sends no login
    local logins = #sim:requests_matching("POST", "/login/login")
    read_sensor("Enphase JWT")
    assert.equal(logins, #sim:requests_matching("POST", "/login/login"))
  end)

  it("prints exactly the seed's schedule-sensor line, empty or not", function()
    local ours = read_sensor("Enphase Schedules")
    local _, theirs = seed_outputs()
    assert.equal('{"cfg":[],"dtg":[],"rbd":[],"other":[]}', theirs)
    assert.equal(theirs, ours)
    call("enphase_add_schedule", { schedule_type = "CFG", start_time = "02:00", end_time = "05:00",
      days = "1,2,3,4,5", limit = "100" })
    call("enphase_add_schedule", { schedule_type = "DTG", start_time = "17:00", end_time = "19:00",
      days = "6,7", limit = "6" })
    call("enphase_add_schedule", { schedule_type = "CFG", start_time = "12:00", end_time = "13:00",
      days = "7", limit = "80" })
    ours = read_sensor("Enphase Schedules")
    _, theirs = seed_outputs()
    assert.equal(theirs, ours)
    local v = json.decode(ours)
    assert.same({ 2, 1, 0 }, { #v.cfg, #v.dtg, #v.rbd })
  end)

  it("toggles, adds, deletes and clears with the shell_commands", function()
    for _, kind in ipairs({ "cfg", "dtg", "rbd" }) do
      call("enphase_" .. kind, { state = "on" })
    end
    local _, battery = read_sensor("Enphase Battery")
    assert.same({ true, true, true }, { battery.chargeFromGrid, battery.dtgControl.enabled,
      battery.rbdControl.enabled })
    call("enphase_cfg", { state = "off" })
    _, battery = read_sensor("Enphase Battery")
    assert.is_false(battery.chargeFromGrid)
    call("enphase_add_schedule", { schedule_type = "DTG", start_time = "17:00", end_time = "19:00",
      days = "1", limit = "6" })
    call("enphase_add_schedule", { schedule_type = "RBD", start_time = "08:00", end_time = "09:00",
      days = "2", limit = "100" })
    local _, ids = read_sensor("Enphase Schedules")
    call("enphase_delete_schedule", { schedule_id = ids.dtg[1] })
    _, ids = read_sensor("Enphase Schedules")
    assert.same({ 0, 1 }, { #ids.dtg, #ids.rbd })
    call("enphase_clear_schedules", { schedule_type = "all" })
    assert.equal('{"cfg":[],"dtg":[],"rbd":[],"other":[]}', (read_sensor("Enphase Schedules")))
  end)

  it("fails a reading with a non-zero exit (HA keeps no stale value), the reason on stderr",
    function()
      box:close()
      box = commands.box(sim, { password = "wrong" })
      local code, _, err = box:run(render(sensor("Enphase Schedules").command, {}), { timeout = 15 })
      assert.equal(1, code)
      assert.truthy(err:find("enphase schedule:", 1, true), err)
    end)
end)
