-- The simulator, through plain HTTP: it must behave like the Enlighten
-- endpoints the seed guide talks to, so that every other spec can trust it.
local socket = require("socket")
local json = require("enphase.sim.json")
local jwt = require("enphase.sim.jwt")
local simulator = require("helpers.sim")

local SITE, USER = 5652514, 4980363
local BC = "/service/batteryConfig/api/v1"
local SETTINGS = string.format("/batterySettings/%d?userId=%d&source=enlm", SITE, USER)
local PUT_SETTINGS = string.format("/batterySettings/%d?userId=%d&source=enho", SITE, USER)
local SCHED = string.format("/battery/sites/%d/schedules", SITE)
local PROFILE = string.format("/profile/%d?userId=%d", SITE, USER)

local function decode(res)
  local v = json.decode(res.body)
  assert(v ~= nil, res.body)
  return v
end

local function sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  local ok, _, code = p:close()
  return out, ok and 0 or code
end

describe("the simulator", function()
  local sim = simulator.for_file(_ENV, { args = { "--sites", "2" } })

  local function validate(t, kind)
    local body = kind == "cfg" and { scheduleType = "cfg", forceScheduleOpted = true }
      or { scheduleType = kind }
    local r = sim:bc(t, "POST", SCHED .. "/isValid", body)
    assert.equal(200, r.status, r.body)
    assert.same({ isValid = true }, decode(r))
  end

  local function settings(t)
    return decode(sim:bc(t, "GET", SETTINGS)).data
  end

  describe("web login", function()
    it("hands out a session cookie and a token, and logs in with a new session", function()
      local page = assert(sim:request("GET", "/login"))
      assert.equal(200, page.status)
      assert.truthy(page.headers["content-type"]:find("text/html", 1, true))
      local sid = page.cookies._enlighten_4_session
      assert.truthy(sid and #sid >= 32)
      assert.truthy(page.set_cookies[1]:find("; path=/; HttpOnly", 1, true))
      local token = page.body:match('name="authenticity_token" value="([^"]*)"')
      assert.truthy(token and #token > 40)
      -- user[email] literally and with %5B %5D, "+" and %XX in the password
      sim:account({ email = "odd@example.com", password = "p w+&=x", site_id = 77, user_id = 88 })
      local form = "utf8=%E2%9C%93&authenticity_token=" .. token
        .. "&user[email]=odd%40example.com&user%5Bpassword%5D=p+w%2B%26%3Dx"
      local res = assert(sim:request("POST", "/login/login", { body = form,
        headers = { Cookie = "_enlighten_4_session=" .. sid,
                    ["Content-Type"] = "application/x-www-form-urlencoded" } }))
      assert.equal(302, res.status)
      assert.equal("/", res.headers.location)
      local new_sid = res.cookies._enlighten_4_session
      assert.truthy(new_sid and new_sid ~= sid)
      local cookie = { Cookie = "_enlighten_4_session=" .. new_sid }
      local root = sim:request("GET", "/", { headers = cookie })
      assert.same({ 302, "/web/77/today" }, { root.status, root.headers.location })
      assert.equal(200, sim:request("GET", "/web/77/today", { headers = cookie }).status)
      local data = decode(sim:request("GET",
        "/app-api/77/data.json?app=1&device_status=non_retired&is_mobile=0",
        { headers = cookie }))
      assert.equal(88, data.app.userId)
      assert.equal("Europe/London", data.app.timezone)
      assert.equal(403, sim:request("GET", "/app-api/5652514/data.json", { headers = cookie }).status)
      -- the old session is not logged in
      local old = sim:request("GET", "/", { headers = { Cookie = "_enlighten_4_session=" .. sid } })
      assert.equal("/login", old.headers.location)
      local st = sim:state()
      assert.same({ 1, 1 }, { st.logins, st.login_attempts })
    end)

    it("issues a real-format JWT and the same one until it expires", function()
      local t = assert(sim:login())
      assert.same({ SITE, USER }, { t.site_id, t.user_id })
      assert.truthy(t.jwt:match("^[%w_-]+%.[%w_-]+%.[%w_-]+$"))
      assert.equal('{"alg":"HS256","typ":"JWT"}', jwt.b64url_decode(t.jwt:match("^([^.]+)")))
      local p = jwt.payload(t.jwt)
      assert.equal(USER, p.data.user_id)
      assert.equal("demo@example.com", p.data.email)
      assert.equal(86400, p.exp - p.iat)
      assert.truthy(math.abs(p.iat - os.time()) < 5)
      local cookie = { Cookie = simulator.cookie_header(t.cookies) }
      local again = decode(sim:request("GET", "/app-api/jwt_token.json", { headers = cookie }))
      assert.equal(t.jwt, again.token)
      assert.equal(1, sim:state().jwts_issued)
      sim:clock(86401)
      local fresh = decode(sim:request("GET", "/app-api/jwt_token.json", { headers = cookie }))
      assert.not_equal(t.jwt, fresh.token)
      assert.equal(2, sim:state().jwts_issued)
    end)

    it("answers a bad password with the login page, a bad token with 422", function()
      local bad = sim:login("demo@example.com", "wrong")
      assert.is_nil(bad)
      local page = assert(sim:request("GET", "/login"))
      local sid = page.cookies._enlighten_4_session
      local function post(token, cookie)
        return sim:request("POST", "/login/login", {
          body = "authenticity_token=" .. token .. "&user%5Bemail%5D=demo%40example.com"
            .. "&user%5Bpassword%5D=wrong",
          headers = { Cookie = cookie and ("_enlighten_4_session=" .. cookie) or nil } })
      end
      local token = page.body:match('name="authenticity_token" value="([^"]*)"')
      local res = post(token, sid)
      assert.equal(200, res.status)
      assert.truthy(res.body:find("Invalid email or password", 1, true))
      assert.equal(422, post("forged", sid).status)
      local no_cookie = post(token, nil)
      assert.equal(422, no_cookie.status)
      assert.truthy(no_cookie.body:find("InvalidAuthenticityToken", 1, true))
      local st = sim:state()
      assert.same({ 0, 4 }, { st.logins, st.login_attempts })
      assert.equal(0, st.jwts_issued)
    end)

    it("sends MFA accounts to /login/otp and refuses locked ones", function()
      sim:account({ email = "mfa@example.com", password = "pw", site_id = 5, user_id = 6, mfa = true })
      sim:account({ email = "busy@example.com", password = "pw", site_id = 7, user_id = 8, locked = true })
      local _, res = sim:login("mfa@example.com", "pw")
      assert.same({ 302, "/login/otp" }, { res.status, res.headers.location })
      assert.truthy(res.cookies.login_otp_nonce)
      _, res = sim:login("busy@example.com", "pw")
      assert.equal(200, res.status)
      assert.truthy(res.body:find("Too many active sessions", 1, true))
      assert.equal(0, sim:state().logins)
    end)

    it("redirects anonymous visitors to /login and answers JSON endpoints with the login page", function()
      assert.equal("/login", sim:request("GET", "/").headers.location)
      local r = sim:request("GET", "/app-api/jwt_token.json")
      assert.equal(200, r.status)
      assert.truthy(r.headers["content-type"]:find("text/html", 1, true))
      assert.truthy(r.body:find('action="/login/login"', 1, true))
      r = sim:request("GET", "/app-api/5652514/data.json")
      assert.truthy(r.body:find("authenticity_token", 1, true))
    end)

    it("serves the login page variants", function()
      local function page()
        return sim:request("GET", "/login").body
      end
      sim:config({ login_page = "no_token" })
      assert.falsy(page():find("authenticity_token\" value", 1, true))
      assert.falsy(page():find("csrf-token", 1, true))
      sim:config({ login_page = "meta_only" })
      local p = page()
      assert.falsy(p:find('name="authenticity_token" value=', 1, true))
      assert.truthy(p:match('<meta name="csrf%-token" content="[^"]+"'))
      sim:config({ login_page = "two_tokens" })
      local n = 0
      for _ in page():gmatch('name="authenticity_token" value="') do
        n = n + 1
      end
      assert.equal(2, n)
      assert.has_error(function()
        sim:config({ login_page = "weird" })
      end)
    end)

    it("logs in the --sites accounts", function()
      local t = assert(sim:login("user2@example.com", "password2"))
      assert.same({ 1000002, 2000002 }, { t.site_id, t.user_id })
    end)
  end)

  describe("battery API rules", function()
    it("answers 401 without a known, unexpired JWT", function()
      local t = assert(sim:tokens())
      local r = sim:bc(t, "GET", SETTINGS, nil, { ["e-auth-token"] = false })
      assert.equal(401, r.status)
      assert.equal("Unauthorized", decode(r).message)
      assert.equal(401, sim:bc(t, "GET", SETTINGS, nil, { ["e-auth-token"] = "x.y.z" }).status)
      assert.equal(200, sim:bc(t, "GET", SETTINGS).status)
      sim:clock(86400)
      assert.equal(401, sim:bc(t, "GET", SETTINGS).status)
    end)

    it("answers a Spring-style 403 for a wrong user or site", function()
      local t = assert(sim:tokens())
      local r = sim:bc(t, "GET", SETTINGS, nil, { username = "4980364" })
      assert.equal(403, r.status)
      local body = decode(r)
      assert.same({ 403, "Forbidden", BC .. "/batterySettings/" .. SITE },
        { body.status, body.error, body.path })
      assert.truthy(body.timestamp)
      assert.equal(403, sim:bc(t, "GET", "/batterySettings/1000001?userId=4980363").status)
      assert.equal(403, sim:bc(t, "GET", "/batterySettings/5652514?userId=2000001").status)
      assert.equal(403, sim:bc(t, "GET", "/batterySettings/5652514").status)
      local other = assert(sim:tokens("user1@example.com", "password1"))
      assert.equal(403, sim:bc(other, "GET", SETTINGS, nil, { username = tostring(USER) }).status)
    end)

    it("wants the XSRF double submit on POST and PUT, and hands out the cookie on 403", function()
      local t = assert(sim:login())
      -- the seed's get_xsrf: POST isValid without x-xsrf-token
      local r = sim:bc(t, "POST", SCHED .. "/isValid", { scheduleType = "dtg" })
      assert.equal(403, r.status)
      local xsrf = r.cookies["BP-XSRF-Token"]
      assert.truthy(xsrf and #xsrf > 10)
      assert.truthy(r.set_cookies[1]:find("; Path=/", 1, true))
      t.xsrf = xsrf
      assert.equal(200, sim:bc(t, "POST", SCHED .. "/isValid", { scheduleType = "dtg" }).status)
      -- header and cookie differ
      r = sim:bc(t, "POST", SCHED .. "/isValid", { scheduleType = "dtg" },
        { cookie = "BP-XSRF-Token=other" })
      assert.equal(403, r.status)
      assert.truthy(r.cookies["BP-XSRF-Token"])
      -- a value the sim never issued, even when both match
      r = sim:bc(t, "POST", SCHED .. "/isValid", { scheduleType = "dtg" },
        { cookie = "BP-XSRF-Token=made-up", ["x-xsrf-token"] = "made-up" })
      assert.equal(403, r.status)
      -- another user's token
      local other = assert(sim:tokens("user1@example.com", "password1"))
      r = sim:bc(t, "POST", SCHED .. "/isValid", { scheduleType = "dtg" },
        { cookie = "BP-XSRF-Token=" .. other.xsrf, ["x-xsrf-token"] = other.xsrf })
      assert.equal(403, r.status)
      -- GETs need none
      t.xsrf = nil
      assert.equal(200, sim:bc(t, "GET", SCHED).status)
    end)

    it("sets the XSRF cookie on GET batterySettings when the request has none", function()
      local t = assert(sim:login())
      local r = sim:bc(t, "GET", SETTINGS)
      assert.truthy(r.cookies["BP-XSRF-Token"])
      t.xsrf = r.cookies["BP-XSRF-Token"]
      validate(t, "rbd")
      assert.is_nil(sim:bc(t, "GET", SETTINGS).cookies["BP-XSRF-Token"])
    end)

    it("returns site settings with an x-csrf-token header and overridable flags", function()
      local t = assert(sim:tokens())
      local r = sim:bc(t, "GET", string.format("/siteSettings/%d?userId=%d", SITE, USER))
      assert.equal(200, r.status)
      assert.truthy(r.headers["x-csrf-token"])
      local d = decode(r)
      assert.equal("site-settings", d.type)
      assert.is_true(d.data.showDischargeToGrid)
      assert.is_true(d.data.isIQGWScheduleSupported)
      sim:config({ site_settings = { showDischargeToGrid = false } })
      d = decode(sim:bc(t, "GET", string.format("/siteSettings/%d?userId=%d", SITE, USER)))
      assert.is_false(d.data.showDischargeToGrid)
    end)
  end)

  describe("battery settings", function()
    it("describes the battery", function()
      local t = assert(sim:tokens())
      local r = decode(sim:bc(t, "GET", SETTINGS))
      assert.equal("battery-details", r.type)
      local d = r.data
      assert.same({ "self-consumption", 20, false },
        { d.profile, d.batteryBackupPercentage, d.chargeFromGrid })
      assert.is_true(d.cfgControl.forceScheduleSupported)
      assert.is_false(d.dtgControl.enabled)
      assert.same({ 5, 5, 25 }, { d.veryLowSoc, d.veryLowSocMin, d.veryLowSocMax })
    end)

    it("silently ignores a cfg/dtg/rbd change that was not validated", function()
      local t = assert(sim:tokens())
      local on = { chargeFromGrid = true, acceptedItcDisclaimer = "2025-10-01T10:00:00.000Z" }
      local r = sim:bc(t, "PUT", PUT_SETTINGS, on)
      assert.same({ 200, { message = "success" } }, { r.status, decode(r) })
      assert.is_false(settings(t).chargeFromGrid)
      assert.equal(200, sim:bc(t, "PUT", PUT_SETTINGS, { dtgControl = { enabled = true } }).status)
      assert.is_false(settings(t).dtgControl.enabled)
      assert.truthy(sim:requests_matching("PUT", "/batterySettings/")[1].note:find("not validated"))
    end)

    it("applies a change validated within the window", function()
      local t = assert(sim:tokens())
      validate(t, "cfg")
      sim:bc(t, "PUT", PUT_SETTINGS,
        { chargeFromGrid = true, acceptedItcDisclaimer = "2025-10-01T10:00:00.000Z" })
      local d = settings(t)
      assert.is_true(d.chargeFromGrid)
      assert.is_true(d.cfgControl.enabled)
      assert.equal("2025-10-01T10:00:00.000Z", d.acceptedItcDisclaimer)
      validate(t, "dtg")
      sim:bc(t, "PUT", PUT_SETTINGS, { dtgControl = { enabled = true } })
      assert.is_true(settings(t).dtgControl.enabled)
      sim:clock(31)
      sim:bc(t, "PUT", PUT_SETTINGS, { dtgControl = { enabled = false } })
      assert.is_true(settings(t).dtgControl.enabled)
      validate(t, "rbd")
      sim:bc(t, "PUT", PUT_SETTINGS, { rbdControl = { enabled = true } })
      assert.is_true(settings(t).rbdControl.enabled)
      local acct = sim:state().accounts[1]
      assert.truthy(acct.validated.rbd)
      assert.is_true(acct.settings.rbdControl.enabled)
    end)

    it("refuses bad bodies with 400", function()
      local t = assert(sim:tokens())
      validate(t, "cfg")
      assert.equal(400, sim:bc(t, "PUT", PUT_SETTINGS, { chargeFromGrid = true }).status)
      assert.equal(400, sim:bc(t, "PUT", PUT_SETTINGS, "{not json").status)
      assert.equal(400, sim:bc(t, "PUT", PUT_SETTINGS, { veryLowSoc = 50 }).status)
      assert.equal(400, sim:bc(t, "PUT", PUT_SETTINGS, { dtgControl = true }).status)
      assert.equal(400, sim:bc(t, "POST", SCHED .. "/isValid", { scheduleType = "cfg" }).status)
      assert.equal(400, sim:bc(t, "POST", SCHED .. "/isValid", { scheduleType = "xyz" }).status)
      assert.equal(200, sim:bc(t, "PUT", PUT_SETTINGS, { veryLowSoc = 15 }).status)
      assert.equal(15, settings(t).veryLowSoc)
    end)
  end)

  describe("profile", function()
    it("keeps a change pending, cancels it, then applies the next", function()
      local t = assert(sim:tokens())
      sim:config({ pending_seconds = 60 })
      local r = sim:bc(t, "PUT", PROFILE, { profile = "cost_savings", batteryBackupPercentage = 30,
        operationModeSubType = "prioritize-energy" })
      assert.equal(200, r.status)
      local p = decode(sim:bc(t, "GET", PROFILE .. "&source=enho"))
      assert.equal("profile-details", p.type)
      assert.same({ "self-consumption", true, "cost_savings", 30 },
        { p.data.profile, p.data.isBatteryChangePending, p.data.requestedConfig.profile,
          p.data.requestedConfig.batteryBackupPercentage })
      local cancel = string.format("/cancel/profile/%d?userId=%d", SITE, USER)
      assert.equal(200, sim:bc(t, "PUT", cancel, {}).status)
      r = sim:bc(t, "PUT", cancel, {})
      assert.same({ 409, "ALREADY_PROCESSED" }, { r.status, decode(r).code })
      sim:bc(t, "PUT", PROFILE, { profile = "backup_only", batteryBackupPercentage = 100 })
      sim:clock(61)
      p = decode(sim:bc(t, "GET", PROFILE)).data
      assert.same({ "backup_only", 100, false },
        { p.profile, p.batteryBackupPercentage, p.isBatteryChangePending })
      assert.equal(100, settings(t).batteryBackupPercentage)
      assert.equal(400, sim:bc(t, "PUT", PROFILE, { profile = "party" }).status)
      assert.equal(400, sim:bc(t, "PUT", PROFILE,
        { profile = "backup_only", batteryBackupPercentage = 101 }).status)
    end)
  end)

  describe("schedules", function()
    local function add(t, over)
      local body = { timezone = "Europe/London", startTime = "02:00", endTime = "05:00", limit = 100,
                     scheduleType = "CFG", days = { 1, 2, 3 } }
      for k, v in pairs(over or {}) do
        body[k] = v
      end
      return sim:bc(t, "POST", SCHED, body)
    end

    local function list(t)
      return decode(sim:bc(t, "GET", SCHED))
    end

    it("creates, lists, refuses overlaps, updates, reorders and deletes", function()
      local t = assert(sim:tokens())
      local r = add(t)
      assert.equal(200, r.status, r.body)
      local a = decode(r).scheduleId
      assert.truthy(a:match("^%x+%-%x+%-4%x+%-[89ab]%x+%-%x+$"))
      local b = decode(add(t, { startTime = "22:00", endTime = "01:00", days = { 5 } })).scheduleId
      local l = list(t)
      assert.equal("BATTERY_SCHEDULES_CONFIG", l.type)
      assert.equal(2, l.cfg.count)
      assert.same({ b, a }, { l.cfg.details[1].scheduleId, l.cfg.details[2].scheduleId })
      local d = l.cfg.details[2]
      assert.same({ "CFG", "02:00", "05:00", 100, { 1, 2, 3 }, "Europe/London", "active", true, false },
        { d.scheduleType, d.startTime, d.endTime, d.limit, d.days, d.timezone, d.scheduleStatus,
          d.isEnabled, d.isDeleted })
      assert.truthy(d.createdAt:match("^%d+$"))
      assert.same({}, l.dtg.details)
      assert.truthy(sim:bc(t, "GET", SCHED).body:find('"dtg":{"count":0,"details":[]', 1, true))
      -- overlaps: same type on a shared day, across midnight too
      r = add(t, { startTime = "04:00", endTime = "06:00", days = { 3, 4 } })
      assert.same({ 409, "CONFLICTING_SCHEDULE_CFG" }, { r.status, decode(r).code })
      r = add(t, { startTime = "00:30", endTime = "00:45", days = { 5 } })
      assert.equal(409, r.status)
      assert.equal(200, add(t, { scheduleType = "DTG", limit = 6 }).status)
      assert.equal(200, add(t, { startTime = "05:00", endTime = "06:00" }).status)
      assert.equal(200, add(t, { startTime = "04:00", endTime = "06:00", days = { 3 },
        isEnabled = false }).status)
      -- update moves a to the front, overlap check leaves itself out
      r = sim:bc(t, "PUT", SCHED .. "/" .. a, { timezone = "Europe/London", startTime = "02:30",
        endTime = "04:30", limit = 80, scheduleType = "CFG", days = { 1, 2, 3 } })
      assert.equal(200, r.status, r.body)
      assert.equal("success", decode(r).message)
      l = list(t)
      assert.equal(a, l.cfg.details[1].scheduleId)
      assert.same({ "02:30", 80 }, { l.cfg.details[1].startTime, l.cfg.details[1].limit })
      assert.equal(404, sim:bc(t, "PUT", SCHED .. "/nope", { limit = 50 }).status)
      -- delete
      assert.equal(403, sim:bc(t, "DELETE", SCHED .. "/" .. a).status)
      r = sim:bc(t, "POST", SCHED .. "/" .. a .. "/delete", {})
      assert.same({ 200, { message = "success" } }, { r.status, decode(r) })
      assert.equal(404, sim:bc(t, "POST", SCHED .. "/" .. a .. "/delete", {}).status)
      assert.equal(3, list(t).cfg.count)
      assert.equal(4, #sim:state().accounts[1].schedules)
    end)

    it("refuses bad schedules with 400", function()
      local t = assert(sim:tokens())
      for _, over in ipairs({
        { startTime = "2:00" }, { endTime = "24:00" }, { endTime = "02:00" }, { days = {} },
        { days = { 0 } }, { days = { 8 } }, { days = { 1.5 } }, { limit = 5 }, { limit = 101 },
        { limit = 50.5 }, { scheduleType = "XYZ" }, { isEnabled = "yes" },
      }) do
        local r = add(t, over)
        assert.equal(400, r.status, json.encode(over))
        assert.truthy(decode(r).message)
      end
      assert.equal(0, list(t).cfg.count)
    end)

    it("keeps new and updated schedules pending for pending_seconds", function()
      local t = assert(sim:tokens())
      sim:config({ pending_seconds = 30 })
      local id = decode(add(t)).scheduleId
      local l = list(t)
      assert.is_true(l.anySchedulePending)
      assert.same({ "pending", "pending" }, { l.cfg.scheduleStatus, l.cfg.details[1].scheduleStatus })
      sim:clock(31)
      l = list(t)
      assert.is_false(l.anySchedulePending)
      assert.equal("active", l.cfg.details[1].scheduleStatus)
      sim:bc(t, "PUT", SCHED .. "/" .. id, { limit = 90 })
      assert.is_true(list(t).anySchedulePending)
    end)
  end)

  describe("faults", function()
    it("answers a status N times, then normally", function()
      sim:fault({ match = "/login", method = "GET", action = "status", status = 503, count = 2,
                  retry_after = 2 })
      for _ = 1, 2 do
        local r = sim:request("GET", "/login")
        assert.same({ 503, "2" }, { r.status, r.headers["retry-after"] })
      end
      assert.equal(200, sim:request("GET", "/login").status)
      local log = sim:log()
      assert.same({ 503, 503, 200 }, { log[1].status, log[2].status, log[3].status })
      assert.equal("status", log[1].fault)
    end)

    it("matches the method", function()
      sim:fault({ match = "/login", method = "POST", status = 500 })
      assert.equal(200, sim:request("GET", "/login").status)
      assert.equal(500, sim:request("POST", "/login/login", { body = "" }).status)
    end)

    it("hangs one client without stalling the others", function()
      sim:fault({ match = "/login", action = "hang" })
      local t0 = socket.gettime()
      local res, err = sim:request("GET", "/login", { timeout = 0.3 })
      assert.is_nil(res)
      assert.equal("timeout", err)
      assert.truthy(socket.gettime() - t0 < 1)
      -- a hanging connection stays open while others are served
      local hung = socket.tcp()
      sim:fault({ match = "/login", action = "hang" })
      assert(hung:connect("127.0.0.1", sim.port))
      hung:send(simulator.build_request("GET", "/login", { keep_alive = true }))
      socket.sleep(0.05)
      t0 = socket.gettime()
      assert.equal(200, sim:request("GET", "/login").status)
      assert.truthy(socket.gettime() - t0 < 0.5)
      hung:close()
    end)

    it("closes the connection without an answer", function()
      sim:fault({ match = "jwt_token", action = "close" })
      local res, err = sim:request("GET", "/app-api/jwt_token.json")
      assert.is_nil(res)
      assert.equal("closed", err)
    end)

    it("answers a raw body, a generated body of a given size, a cut body, a slow and a late one", function()
      sim:fault({ match = "data.json", action = "body", body = "<html>login</html>",
                  headers = { ["Content-Type"] = "text/html; charset=utf-8" } })
      local r = sim:request("GET", "/app-api/1/data.json")
      assert.same({ 200, "<html>login</html>", "text/html; charset=utf-8" },
        { r.status, r.body, r.headers["content-type"] })
      sim:fault({ match = "data.json", action = "body", size = 5 * 1024 * 1024 })
      r = sim:request("GET", "/app-api/1/data.json")
      assert.equal(5 * 1024 * 1024, #r.body)
      assert.equal(5 * 1024 * 1024, #json.decode(r.body).pad + 10)
      sim:fault({ match = "/login", action = "reset_mid_body" })
      local res, err, partial = sim:request("GET", "/login")
      assert.is_nil(res)
      assert.equal("closed", err)
      assert.truthy(#partial > 0)
      sim:fault({ match = "/login", action = "slow_body", delay = 0.3 })
      local t0 = socket.gettime()
      r = sim:request("GET", "/login")
      assert.equal(200, r.status)
      assert.truthy(r.body:find("</html>", 1, true))
      assert.truthy(socket.gettime() - t0 >= 0.25)
      sim:fault({ match = "/login", delay = 0.3 })
      t0 = socket.gettime()
      assert.equal(200, sim:request("GET", "/login").status)
      assert.truthy(socket.gettime() - t0 >= 0.25)
    end)

    it("clears, and never touches control paths", function()
      sim:fault({ match = "", status = 500, count = 100 })
      assert.equal(0, #sim:log())
      sim:fault({ clear = true })
      assert.equal(200, sim:request("GET", "/login").status)
      assert.has_error(function()
        sim:fault({ action = "explode" })
      end)
    end)
  end)

  describe("connections", function()
    it("serves two requests on one kept-alive connection", function()
      local c = socket.tcp()
      c:settimeout(5)
      assert(c:connect("127.0.0.1", sim.port))
      c:send(simulator.build_request("GET", "/login", { keep_alive = true }))
      local r1 = assert(simulator.read_response(c))
      c:send(simulator.build_request("GET", "/", { keep_alive = true }))
      local r2 = assert(simulator.read_response(c))
      assert.same({ 200, 302 }, { r1.status, r2.status })
      -- pipelined
      c:send(simulator.build_request("GET", "/login", { keep_alive = true })
        .. simulator.build_request("GET", "/nowhere", { keep_alive = true }))
      assert.equal(200, assert(simulator.read_response(c)).status)
      assert.equal(404, assert(simulator.read_response(c)).status)
      c:close()
      local st = sim:state()
      assert.same({ 1, 4 }, { st.connections, st.requests })
      local log = sim:log()
      assert.same({ log[1].conn, log[1].conn }, { log[2].conn, log[4].conn })
    end)

    it("answers 100 Continue, honours Connection: close, and records the request", function()
      local c = socket.tcp()
      c:settimeout(5)
      assert(c:connect("127.0.0.1", sim.port))
      local body = "utf8=%E2%9C%93"
      c:send("POST /login/login?x=1&y=%20 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        .. "Cookie: a=1; BP-XSRF-Token=abc;\r\nX-Mixed-Case: Yes\r\nContent-Length: " .. #body .. "\r\n\r\n")
      assert.equal("HTTP/1.1 100 Continue", c:receive("*l"))
      assert.equal("", c:receive("*l"))
      c:send(body)
      local r = assert(simulator.read_response(c))
      assert.equal(422, r.status)
      c:send(simulator.build_request("GET", "/login"))
      r = assert(simulator.read_response(c))
      assert.equal("close", r.headers.connection)
      assert.truthy(r.headers.date)
      assert.is_nil(c:receive(1))
      c:close()
      local e = sim:log()[1]
      assert.same({ "POST", "/login/login", "x=1&y=%20", body, 422 },
        { e.method, e.path, e.query, e.body, e.status })
      assert.same({ a = "1", ["BP-XSRF-Token"] = "abc" }, e.cookies)
      assert.equal("Yes", e.headers["x-mixed-case"])
      assert.is_number(e.seq)
      assert.is_number(e.time)
    end)

    it("serves 200 connections open at once", function()
      local socks = {}
      for i = 1, 200 do
        local c = socket.tcp()
        c:settimeout(5)
        assert(c:connect("127.0.0.1", sim.port))
        socks[i] = c
      end
      socket.sleep(0.1)
      assert.truthy(sim:state().open_connections >= 200)
      for _, c in ipairs(socks) do
        c:send(simulator.build_request("GET", "/login", { keep_alive = true }))
      end
      for _, c in ipairs(socks) do
        assert.equal(200, assert(simulator.read_response(c)).status)
        c:close()
      end
      local st = sim:state()
      assert.same({ 200, 200 }, { st.connections, st.requests })
    end)
  end)

  describe("control API", function()
    it("resets accounts, log, faults, clock and config", function()
      sim:account({ email = "new@example.com", password = "x", site_id = 9, user_id = 10 })
      sim:config({ validate_window = 1 })
      sim:clock(1000)
      sim:request("GET", "/login")
      sim:fault({ match = "x", status = 500 })
      local st = sim:state()
      assert.equal(4, #st.accounts)
      assert.equal(1000, st.clock_offset)
      sim:reset()
      st = sim:state()
      assert.same({ 3, 0, 30, 0, 0 }, { #st.accounts, st.clock_offset, st.config.validate_window,
        #st.faults, #sim:log() })
      assert.same({ "demo@example.com", SITE, USER }, { st.accounts[1].email, st.accounts[1].site_id,
        st.accounts[1].user_id })
    end)

    it("caps and clears the log, and lists entries after a sequence number", function()
      sim:config({ log_cap = 3 })
      for _ = 1, 5 do
        sim:request("GET", "/login")
      end
      local log = sim:log()
      assert.same({ 3, 5 }, { #log, log[3].seq })
      assert.equal(1, #sim:log(4))
      sim:clear_log()
      assert.same({}, sim:log())
    end)

    it("shortens JWTs with jwt_ttl", function()
      sim:config({ jwt_ttl = 60 })
      local t = assert(sim:tokens())
      local p = jwt.payload(t.jwt)
      assert.equal(60, p.exp - p.iat)
    end)

    it("reads a control body as a JSON object: empty is {}, anything else a 400 in JSON", function()
      local refused = '{"error":"body must be a JSON object","ok":false}'
      local function post(path, body)
        local res = assert(sim:request("POST", path, { body = body }))
        return res.status, res.body
      end
      -- control.lua, house_control.lua and rows_control.lua alike
      for _, path in ipairs({ "/__sim/clock", "/__sim/fault", "/__sim/house", "/__sim/rows" }) do
        for _, body in ipairs({ "{not json", "[1", '"text"', "3", "null" }) do
          assert.same({ 400, refused }, { post(path, body) }, path .. " " .. body)
        end
      end
      assert.equal(200, (post("/__sim/clock", "")))
      assert.equal(200, (post("/__sim/house", "")))
      assert.same({ 400, '{"error":"label (a string) and zone (a known time zone) are needed","ok":false}' },
        { post("/__sim/rows", "") })
      -- where a body is optional, an unreadable one counts as none
      sim:login("demo@example.com", "demo-password")
      local sessions = sim:state().sessions
      assert.truthy(sessions >= 1)
      assert.same({ 200, ('{"cleared":%d,"ok":true}'):format(sessions) },
        { post("/__sim/sessions/clear", "[1") })
      assert.equal(0, sim:state().sessions)
      assert.same({ 400, '{"error":"POST /__sim/rows first","ok":false}' },
        { post("/__sim/rows/close", "[1") })
      -- and the control API's own refusals, in the same JSON
      local res = assert(sim:request("GET", "/__sim/nowhere"))
      assert.same({ 404, '{"error":"no such control endpoint","ok":false}' }, { res.status, res.body })
      res = assert(sim:request("GET", "/__sim/reset"))
      assert.same({ 405, '{"error":"method not allowed","ok":false}' }, { res.status, res.body })
    end)

    it("prints help and refuses unknown options", function()
      local cli = require("enphase.sim.cli")
      assert.truthy(cli.USAGE:find("--portfile", 1, true))
      local out, code = sh("cd " .. simulator.shell_quote(simulator.ROOT) .. " && "
        .. simulator.command_line({ "--help" }))
      assert.equal(0, code)
      assert.truthy(out:find("usage: enphase sim", 1, true))
      local _, bad = sh("cd " .. simulator.shell_quote(simulator.ROOT) .. " && "
        .. simulator.command_line({ "--bogus" }) .. " 2>/dev/null")
      assert.equal(2, bad)
    end)
  end)

  describe("the seed's scripts", function()
    -- The seed guide sits beside the checkout (../shared, as in CI).
    local seed = require("helpers.seed")
    local seed_path = seed.PATH

    local function extract(from, to_prefix)
      return assert(seed.extract(from, to_prefix))
    end

    local function write(path, text)
      local f = assert(io.open(path, "w"))
      f:write(text)
      f:close()
    end

    it("gets a token, xsrf and ids with get_enphase_token.sh, and lists schedules", function()
      assert.truthy(io.open(seed_path), "the seed guide must sit at " .. seed_path)
      local dir = sh("mktemp -d"):gsub("%s+$", "")
      local script = extract("set -euo pipefail", 'echo "{\\"status\\":')
      script = script:gsub("https://enlighten%.enphaseenergy%.com", sim.base_url)
        :gsub('\nEMAIL="[^\n]*', '\nEMAIL="demo@example.com"', 1)
        :gsub('\nPASSWORD="[^\n]*', '\nPASSWORD="demo-password"', 1)
        :gsub('\nWORKDIR="[^\n]*', '\nWORKDIR="' .. dir .. '"', 1)
      write(dir .. "/get_enphase_token.sh", script)
      local out, code = sh("bash " .. dir .. "/get_enphase_token.sh")
      assert.equal(0, code, out)
      local r = assert(json.decode(out), out)
      assert.same({ "OK", USER, SITE }, { r.status, r.user_id, r.battery_id })
      assert.truthy(#r.token > 20 and #r.xsrf > 10)
      assert.equal(jwt.payload(r.token).exp, r.exp)
      -- a schedule to see, then the list script with the tokens
      local t = { jwt = r.token, xsrf = r.xsrf, user_id = USER }
      local id = decode(sim:bc(t, "POST", SCHED, { timezone = "Europe/London", startTime = "02:00",
        endTime = "03:00", limit = 100, scheduleType = "DTG", days = { 1 } })).scheduleId
      local list = extract("#!/usr/bin/env bash", "exit 0Make")
      assert.truthy(list:find("get_enphase_schedules_json", 1, true) or list:find("SITE_ID", 1, true))
      list = list:gsub("https://enlighten%.enphaseenergy%.com", sim.base_url)
        :gsub('\nSITE_ID="[^\n]*', '\nSITE_ID="' .. SITE .. '"', 1)
        :gsub('\nUSERNAME="[^\n]*', '\nUSERNAME="' .. USER .. '"', 1)
        :gsub('\nLOG_FILE="[^\n]*', '\nLOG_FILE="' .. dir .. '/debug.log"', 1)
      write(dir .. "/get_enphase_schedules_json.sh", list)
      out, code = sh("ENPHASE_AUTH=" .. simulator.shell_quote(r.token) .. " ENPHASE_XSRF="
        .. simulator.shell_quote(r.xsrf) .. " bash " .. dir .. "/get_enphase_schedules_json.sh")
      assert.equal(0, code)
      assert.same({ cfg = {}, dtg = { id }, rbd = {}, other = {} }, json.decode(out))
      -- the list request carried no cookie at all, and the run left the sim logged in once
      local get = sim:requests_matching("GET", "/schedules")
      assert.is_nil(get[#get].headers.cookie)
      assert.equal(1, sim:state().logins)
      -- a second run with the ids set reuses the cookie jar and the JWT: no new login
      out = sh(string.format("BATTERY_ID=%d USER_ID=%d bash %s/get_enphase_token.sh", SITE, USER, dir))
      assert.equal("OK", json.decode(out).status)
      assert.equal(1, sim:state().logins)
      os.execute("rm -rf " .. simulator.shell_quote(dir))
    end)
  end)
end)
