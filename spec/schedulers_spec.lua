-- examples/cron/enphase.crontab and examples/systemd/: the seed's automation
-- (CFG on at 02:00; at 05:00 off, then its schedules deleted). The command
-- lines are read out of the files and run against the simulator.
local simulator = require("helpers.sim")
local commands = require("helpers.commands")

local quote = simulator.shell_quote
local ENPHASE = "/usr/local/bin/enphase"

local procs = require("helpers.procs")

-- A file that must be there.
local function slurp(path)
  return assert(procs.slurp(path), path)
end

local function battery(sim)
  local a = sim:state().accounts[1]
  local n = 0
  for _, s in ipairs(a.schedules) do
    if s.scheduleType == "CFG" or s.type == "CFG" then
      n = n + 1
    end
  end
  return a.settings.chargeFromGrid, n, #a.schedules
end

local function logins(sim)
  return #sim:requests_matching("POST", "/login/login")
end

-- Index in the simulator's log of the first request matching method and path.
local function first(sim, method, path)
  for i, e in ipairs(sim:log()) do
    if e.method == method and e.path:find(path, 1, true) then
      return i
    end
  end
  return nil
end

-- A CFG and a DTG schedule on the server, as if set earlier.
local function add_schedules(box)
  for _, args in ipairs({ "--type CFG --start 02:00 --end 05:00 --days 1,2,3,4,5,6,7",
                          "--type DTG --start 17:00 --end 19:00 --days 1" }) do
    local code, _, err = box:run("enphase schedule add " .. args .. " --config " .. quote(box.config))
    assert.equal(0, code, err)
  end
end

describe("the crontab", function()
  local sim = simulator.for_file(_ENV)
  local box, jobs

  before_each(function()
    box = commands.box(sim)
    -- the config where the crontab expects it: $HOME/.config/enphase.conf
    assert(os.execute(("mkdir -m 700 %s && cp -p %s %s"):format(quote(box.dir .. "/home/.config"),
      quote(box.config), quote(box.dir .. "/home/.config/enphase.conf"))))
    jobs = {}
    for line in slurp(simulator.ROOT .. "/examples/cron/enphase.crontab"):gmatch("[^\n]+") do
      if not line:match("^%s*#") then
        local when, command = line:match("^(%S+ %S+ %S+ %S+ %S+) (.+)$")
        assert.truthy(command, line)
        jobs[when] = command:gsub(ENPHASE, "enphase", 1):gsub("/run/lock/", box.dir .. "/", 1)
      end
    end
  end)

  after_each(function()
    box:close()
  end)

  it("turns CFG on at 02:00, and at 05:00 off then deletes the CFG schedules", function()
    assert.truthy(jobs["0 2 * * *"] and jobs["0 5 * * *"], "a line at 02:00 and one at 05:00")
    assert.truthy(jobs["0 2 * * *"]:match("^flock %-n "), jobs["0 2 * * *"])
    assert.truthy(jobs["0 5 * * *"]:match("^flock %-n "), jobs["0 5 * * *"])
    add_schedules(box)
    local code, out, err = box:run(jobs["0 2 * * *"])
    assert.equal(0, code, out .. err)
    assert.same({ true, 1, 2 }, { battery(sim) })
    sim:clear_log()
    code, out, err = box:run(jobs["0 5 * * *"])
    assert.equal(0, code, out .. err)
    assert.same({ false, 0, 1 }, { battery(sim) })
    -- the seed's order: the toggle first, the deletes after
    local put, delete = first(sim, "PUT", "/batterySettings/"), first(sim, "POST", "/delete")
    assert.truthy(put and delete and put < delete)
    -- no login at 05:00: the session is cached, per account, under $HOME
    assert.equal(0, logins(sim))
    local cache = box.dir .. "/home/.cache/enphase"
    assert.truthy(io.popen("ls " .. quote(cache)):read("a"):match("session%-%x+%.json"))
  end)

  it("skips a run while another holds the lock (flock -n) and sends nothing", function()
    local lock = jobs["0 2 * * *"]:match("^flock %-n (%S+) ")
    assert(os.execute(("flock %s sleep 4 & sleep 0.5"):format(quote(lock))))
    local before = #sim:log()
    local code, _, _, seconds = box:run(jobs["0 2 * * *"])
    assert.equal(1, code)
    assert.truthy(seconds < 2, seconds)
    assert.equal(before, #sim:log())
    assert.is_false((battery(sim)))
  end)
end)

describe("the systemd units", function()
  local sim = simulator.for_file(_ENV)
  local DIR = simulator.ROOT .. "/examples/systemd/"
  local box

  -- key -> list of values of a unit file
  local function unit(name)
    local t = {}
    for line in slurp(DIR .. name):gmatch("[^\n]+") do
      local k, v = line:match("^(%w+)=(.*)$")
      if k then
        t[k] = t[k] or {}
        table.insert(t[k], v)
      end
    end
    return t
  end

  -- Runs a service's ExecStart as systemd would: its Environment=, with the
  -- cache folder CacheDirectory= makes (0700), here under the box.
  local function start(service)
    local u = unit(service)
    assert.equal("oneshot", u.Type[1])
    assert.equal("enphase", u.CacheDirectory[1])
    assert.equal("0700", u.CacheDirectoryMode[1])
    local env = {}
    for _, e in ipairs(u.Environment or {}) do
      local k, v = e:match("^([%w_]+)=(.*)$")
      env[k] = v
    end
    assert.equal("/var/cache", env.XDG_CACHE_HOME)
    env.XDG_CACHE_HOME = box.dir .. "/var-cache"
    os.execute("mkdir -p -m 700 " .. quote(env.XDG_CACHE_HOME .. "/enphase"))
    local command = u.ExecStart[1]:gsub(ENPHASE, "enphase", 1):gsub("/etc/enphase.conf", box.config, 1)
    return box:run(command, { env = env, timeout = tonumber(u.TimeoutStartSec[1]) })
  end

  before_each(function()
    box = commands.box(sim)
  end)

  after_each(function()
    box:close()
  end)

  it("pairs each timer with its service: on at 02:00, off and CFG schedules cleared at 05:00",
    function()
      local on, off = unit("enphase-cfg-on.timer"), unit("enphase-cfg-off.timer")
      assert.same({ "*-*-* 02:00:00" }, on.OnCalendar)
      assert.same({ "*-*-* 05:00:00" }, off.OnCalendar)
      assert.same({ "enphase-cfg-on.service" }, on.Unit)
      assert.same({ "enphase-cfg-off.service" }, off.Unit)
      assert.same({ "true" }, on.Persistent)
      assert.same({ "timers.target" }, off.WantedBy)
      add_schedules(box)
      local code, out, err = start("enphase-cfg-on.service")
      assert.equal(0, code, out .. err)
      assert.same({ true, 1, 2 }, { battery(sim) })
      code, out, err = start("enphase-cfg-off.service")
      assert.equal(0, code, out .. err)
      assert.same({ false, 0, 1 }, { battery(sim) })
      assert.truthy(io.popen("ls " .. quote(box.dir .. "/var-cache/enphase")):read("a")
        :match("session%-%x+%.json"))
    end)

  it("passes systemd-analyze verify", function()
    if not io.popen("command -v systemd-analyze"):read("a"):match("systemd%-analyze") then
      pending("systemd-analyze is not installed")
      return
    end
    -- copies whose ExecStart names a program that exists here
    for _, name in ipairs({ "enphase-cfg-on", "enphase-cfg-off" }) do
      for _, ext in ipairs({ ".service", ".timer" }) do
        local f = assert(io.open(box.dir .. "/" .. name .. ext, "w"))
        f:write((slurp(DIR .. name .. ext):gsub(ENPHASE, box.dir .. "/bin/enphase")))
        f:close()
      end
      local p = io.popen(("cd %s && systemd-analyze verify ./%s.timer ./%s.service 2>&1; echo rc=$?")
        :format(quote(box.dir), name, name))
      local out = p:read("a")
      p:close()
      assert.truthy(out:match("rc=0\n$"), out)
    end
  end)
end)
