-- Soak: a long run of mixed operations against the simulator with about 10%
-- of them meeting an injected fault (statuses, resets, hangs, odd bodies,
-- revoked tokens, refused connections...). Every operation must either
-- succeed or return `nil, message, kind` with a documented kind, and the
-- simulator's state must agree with every operation that succeeded.
--
-- ENPHASE_SOAK_OPS (default 2000), ENPHASE_SOAK_SEED (default 1),
-- ENPHASE_SOAK_TIMEOUT (the client's timeout in seconds, default 0.5: what a
-- hang fault costs), ENPHASE_SOAK_REPORT (a file to write the figures to).
-- scripts/test.sh runs it in full under ASan and shorter under valgrind.
local socket = require("socket")
local simulator = require("helpers.sim")
local H = require("helpers.client")
local errors = require("enphase.errors")

local OPS = tonumber(os.getenv("ENPHASE_SOAK_OPS") or "") or 2000
local SEED = tonumber(os.getenv("ENPHASE_SOAK_SEED") or "") or 1
local TIMEOUT = tonumber(os.getenv("ENPHASE_SOAK_TIMEOUT") or "") or 0.5
local REPORT = os.getenv("ENPHASE_SOAK_REPORT")
local FAULT_RATE = 0.10
local TIME_LIMIT = math.max(60, OPS * 0.1) -- seconds; 2000 ops take ~10 s

local KINDS = { "cfg", "dtg", "rbd" }

-- The faults, each a function(sim, target) staging one; `target` is
-- {match=, method=} of a request the coming operation sends.
local function on(target, f)
  f.match, f.method = target.match, target.method
  return f
end

local FAULTS = {
  { "500", function(sim, t) sim:fault(on(t, { status = 500 })) end },
  { "502", function(sim, t) sim:fault(on(t, { status = 502 })) end },
  { "503 x3", function(sim, t) sim:fault(on(t, { status = 503, count = 3 })) end },
  { "504", function(sim, t) sim:fault(on(t, { status = 504 })) end },
  { "429 Retry-After", function(sim, t) sim:fault(on(t, { status = 429, retry_after = 2 })) end },
  { "429", function(sim, t) sim:fault(on(t, { status = 429, count = 2 })) end },
  { "401", function(sim, t) sim:fault(on(t, { status = 401 })) end },
  { "403", function(sim, t) sim:fault(on(t, { status = 403 })) end },
  { "400", function(sim, t) sim:fault(on(t, { status = 400, body = '{"message":"soak"}' })) end },
  { "close", function(sim, t) sim:fault(on(t, { action = "close" })) end },
  { "rst", function(sim, t) sim:fault(on(t, { action = "close", rst = true })) end },
  { "reset mid-body", function(sim, t) sim:fault(on(t, { action = "reset_mid_body" })) end },
  { "not HTTP", function(sim, t) sim:fault(on(t, { action = "raw", body = "garbage\r\n\r\n" })) end },
  { "hang", function(sim, t) sim:fault(on(t, { action = "hang" })) end },
  { "slow body", function(sim, t) sim:fault(on(t, { action = "slow_body", delay = 0.1 })) end },
  { "late", function(sim, t) sim:fault(on(t, { delay = 0.1 })) end },
  { "empty body", function(sim, t) sim:fault(on(t, { action = "body", body = "" })) end },
  { "truncated JSON", function(sim, t) sim:fault(on(t, { action = "body", body = '{"data":{"a"' })) end },
  { "HTML", function(sim, t)
    sim:fault(on(t, { action = "body", body = "<html><body>oops</body></html>",
                      headers = { ["Content-Type"] = "text/html" } }))
  end },
  { "50 MB body", function(sim, t) sim:fault(on(t, { action = "body", size = 50 * 1000 * 1000 })) end },
  { "JWT revoked", function(sim) sim:revoke({ jwt = true }) end },
  { "XSRF revoked", function(sim) sim:revoke({ xsrf = true }) end },
  { "web session gone", function(sim)
    sim:revoke({ jwt = true })
    sim:clear_sessions()
  end },
  { "connection refused", function(sim) sim:refuse(0.05) end },
}

-- The requests an operation may send (one is picked as the fault's target).
local TARGETS = {
  status = { { match = "" } },
  settings = { { match = "/batterySettings/", method = "GET" } },
  toggle = { { match = "/isValid", method = "POST" }, { match = "/batterySettings/", method = "PUT" },
             { match = "/batterySettings/", method = "GET" } },
  schedules = { { match = "/schedules", method = "GET" } },
  add = { { match = "/schedules", method = "GET" }, { match = "/schedules", method = "POST" } },
  delete = { { match = "/delete", method = "POST" } },
  profile = { { match = "/profile/", method = "GET" } },
  reserve = { { match = "/profile/", method = "PUT" }, { match = "/profile/", method = "GET" } },
  relogin = { { match = "/login", method = "GET" }, { match = "/login/login", method = "POST" },
              { match = "/jwt_token.json" }, { match = "/isValid", method = "POST" } },
}

describe("a soak of " .. OPS .. " operations with 10% faults", function()
  local sim

  setup(function()
    sim = simulator.start()
  end)

  teardown(function()
    sim:stop()
  end)

  it("ends with every operation succeeded or typed, and the simulator agreeing", function()
    math.randomseed(SEED)
    local client, probe = H.new(sim, { timeout = TIMEOUT, connect_timeout = TIMEOUT,
                                       timezone = "Europe/London",
                                       -- thousands of requests in minutes: far beyond
                                       -- what one account should send for real
                                       budget = 1000000 })
    local t0 = socket.gettime()
    local counts = { ok = 0 }
    local by_op, by_fault, fault_kinds = {}, {}, {}
    local raised = {}
    local faults_staged, faults_hit = 0, 0
    -- the model of what the successful operations did
    local last_toggle = {}        -- kind -> {ok=bool, value=bool}
    local last_reserve            -- {ok=bool, value=n}
    local live, deleted, maybe = {}, {}, {}   -- schedule ids
    local free_slots, slot_of = {}, {}
    for day = 1, 7 do
      for hour = 0, 23 do
        free_slots[#free_slots + 1] = { day = day, hour = hour }
      end
    end
    local failed_adds = 0

    local function pick(list)
      return list[math.random(#list)]
    end
    local function live_ids()
      local ids = {}
      for id in pairs(live) do
        ids[#ids + 1] = id
      end
      table.sort(ids)
      return ids
    end

    local ops = {
      { "status", 3, function()
        return client:status()
      end },
      { "settings", 3, function()
        return client:settings()
      end },
      { "toggle", 4, function()
        local kind, value = pick(KINDS), math.random() < 0.5
        local ok, err, k = client:toggle(kind, value)
        last_toggle[kind] = { ok = ok == true, value = value }
        return ok, err, k
      end },
      { "schedules", 2, function()
        return client:schedules()
      end },
      { "add", 3, function()
        if #free_slots == 0 or #live_ids() >= 24 then
          return client:schedules()
        end
        local i = math.random(#free_slots)
        local slot = table.remove(free_slots, i)
        local id, err, k, pending_id = client:add_schedule({
          type = "CFG", start_time = ("%02d:00"):format(slot.hour),
          end_time = ("%02d:30"):format(slot.hour), days = { slot.day }, limit = 90,
          timezone = "Europe/London",
        })
        if id then
          live[id], slot_of[id] = true, slot
        else
          -- unknown outcome: the slot may be taken on the server; never reuse it
          failed_adds = failed_adds + 1
          if pending_id then
            maybe[pending_id] = true
          end
        end
        return id, err, k
      end },
      { "delete", 3, function()
        local ids = live_ids()
        if #ids == 0 then
          return client:profile()
        end
        local id = pick(ids)
        live[id] = nil
        local ok, err, k = client:delete_schedule(id)
        if ok then
          deleted[id] = true
          free_slots[#free_slots + 1] = slot_of[id]
        else
          maybe[id] = true
        end
        return ok, err, k
      end },
      { "profile", 1, function()
        return client:profile()
      end },
      { "reserve", 1, function()
        local n = math.random(10, 90)
        local ok, err, k = client:set_reserve(n)
        last_reserve = { ok = ok == true, value = n }
        return ok, err, k
      end },
      { "relogin", 1, function()
        return client:status()
      end, function()
        -- a day later: the JWT has expired on both clocks (before any fault
        -- is staged: a refused connection would refuse this control call)
        probe.advance(86400)
        sim:clock(86400)
      end },
    }
    local weighted = {}
    for _, op in ipairs(ops) do
      for _ = 1, op[2] do
        weighted[#weighted + 1] = op
      end
    end

    local function check_state(where)
      local acct = sim:state().accounts[1]
      local s = acct.settings
      local values = { cfg = s.chargeFromGrid, dtg = s.dtgControl.enabled, rbd = s.rbdControl.enabled }
      for _, kind in ipairs(KINDS) do
        local t = last_toggle[kind]
        if t and t.ok then
          assert.equal(t.value, values[kind], where .. ": " .. kind .. " differs from the last "
            .. "successful toggle")
        end
      end
      if last_reserve and last_reserve.ok then
        assert.equal(last_reserve.value, acct.profile.batteryBackupPercentage,
          where .. ": reserve differs from the last successful set_reserve")
      end
      local on_server = {}
      for _, d in ipairs(acct.schedules) do
        on_server[d.scheduleId] = true
        assert.is_nil(deleted[d.scheduleId], where .. ": deleted schedule " .. d.scheduleId
          .. " is still there")
      end
      -- a schedule the model does not hold must come from an operation whose
      -- outcome is unknown: a failed add (id never seen) or a failed delete
      local unexplained = 0
      for id in pairs(on_server) do
        if not live[id] and not maybe[id] then
          unexplained = unexplained + 1
        end
      end
      for id in pairs(live) do
        assert.truthy(on_server[id], where .. ": added schedule " .. id .. " is missing")
      end
      assert.truthy(unexplained <= failed_adds, ("%s: %d schedules nobody added (%d failed adds)")
        :format(where, unexplained, failed_adds))
    end

    local relogins = 0
    for n = 1, OPS do
      local op = pick(weighted)
      local name = op[1]
      if op[4] then
        op[4]()
      end
      local fault
      if math.random() < FAULT_RATE then
        fault = pick(FAULTS)
        fault[2](sim, pick(TARGETS[name]))
        faults_staged = faults_staged + 1
        by_fault[fault[1]] = (by_fault[fault[1]] or 0) + 1
      end
      local r = table.pack(pcall(op[3]))
      local kind
      if not r[1] then
        raised[#raised + 1] = name .. ": " .. tostring(r[2])
        kind = "raised"
      elseif r[2] ~= nil and r[2] ~= false then
        kind = "ok"
      else
        kind = r[4]
        assert.truthy(errors.kinds[kind], ("op %d %s: kind %s (%s)"):format(n, name, tostring(kind),
          tostring(r[3])))
        assert.is_string(r[3])
        assert.truthy(#r[3] > 0)
      end
      counts[kind] = (counts[kind] or 0) + 1
      if kind == "auth" or kind == "mfa" or kind == "locked" then
        -- a refused login is sticky until the caller logs in explicitly,
        -- as a script would (a fault made it: the credentials are right)
        relogins = relogins + 1
        client:login({ force = true })
      end
      by_op[name] = by_op[name] or {}
      by_op[name][kind] = (by_op[name][kind] or 0) + 1
      if fault then
        local fk = fault_kinds[fault[1]] or {}
        fault_kinds[fault[1]] = fk
        local key = name .. ":" .. kind
        fk[key] = (fk[key] or 0) + 1
      end
      if fault then
        if fault[1] == "connection refused" then
          sim:wait_listening()
        end
        -- a queued fault that no request consumed did not happen
        if #sim:state().faults == 0 then
          faults_hit = faults_hit + 1
        end
        sim:fault({ clear = true })
      end
      if n % 250 == 0 then
        check_state("after op " .. n)
      end
      assert.truthy(socket.gettime() - t0 < TIME_LIMIT, "over " .. TIME_LIMIT .. " s at op " .. n)
    end
    check_state("at the end")
    local seconds = socket.gettime() - t0
    client:close()

    local lines = { ("soak: %d operations, %d faults staged (%d hit a request), %.1f s, seed %d, "
      .. "%d explicit logins after a refusal"):format(OPS, faults_staged, faults_hit, seconds, SEED,
      relogins) }
    local names = {}
    for k in pairs(counts) do
      names[#names + 1] = k
    end
    table.sort(names)
    local parts = {}
    for _, k in ipairs(names) do
      parts[#parts + 1] = k .. "=" .. counts[k]
    end
    lines[#lines + 1] = "soak: results " .. table.concat(parts, " ")
    parts = {}
    names = {}
    for k in pairs(by_fault) do
      names[#names + 1] = k
    end
    table.sort(names)
    for _, k in ipairs(names) do
      parts[#parts + 1] = k .. "=" .. by_fault[k]
    end
    lines[#lines + 1] = "soak: faults " .. table.concat(parts, ", ")
    for _, k in ipairs(names) do
      parts = {}
      for key, v in pairs(fault_kinds[k]) do
        if not key:find(":ok$") then
          parts[#parts + 1] = key .. "=" .. v
        end
      end
      table.sort(parts)
      local okn = 0
      for key, v in pairs(fault_kinds[k]) do
        if key:find(":ok$") then
          okn = okn + v
        end
      end
      lines[#lines + 1] = ("soak:   fault %-20s ok=%d %s"):format(k, okn, table.concat(parts, " "))
    end
    for _, op in ipairs(ops) do
      local c = by_op[op[1]]
      if c then
        parts = {}
        for k, v in pairs(c) do
          parts[#parts + 1] = k .. "=" .. v
        end
        table.sort(parts)
        lines[#lines + 1] = ("soak:   %-9s %s"):format(op[1], table.concat(parts, " "))
      end
    end
    if REPORT then
      local f = assert(io.open(REPORT, "w"))
      f:write(table.concat(lines, "\n"), "\n")
      f:close()
    end
    assert.same({}, raised)
    local total = 0
    for _, c in pairs(counts) do
      total = total + c
    end
    assert.equal(OPS, total)
    assert.truthy(counts.ok > OPS * 0.8, lines[2])
    assert.truthy(seconds < TIME_LIMIT)
  end)
end)
