-- The web side of Enlighten: the login form and its authenticity token, the
-- Rails-like session cookie, the dashboard redirect the seed reads the site
-- id from, data.json (the user id) and jwt_token.json.
local http = require("enphase.sim.http")
local jwt = require("enphase.sim.jwt")

local M = {}

M.SESSION_COOKIE = "_enlighten_4_session"

local function session_cookie(id)
  return { "Set-Cookie", M.SESSION_COOKIE .. "=" .. id .. "; path=/; HttpOnly" }
end

--- The logged-in session of the request, or nil.
function M.logged_in(st, req)
  local s = st:session(req.cookies[M.SESSION_COOKIE])
  if s and s.account then
    return s
  end
  return nil
end

-- The request's session, or a new one whose cookie is added to `headers`.
local function get_session(st, req, headers)
  local s = st:session(req.cookies[M.SESSION_COOKIE])
  if not s then
    s = st:new_session()
    headers[#headers + 1] = session_cookie(s.id)
  end
  return s
end

local function hidden_token(token)
  return '<input type="hidden" name="authenticity_token" value="' .. token
    .. '" autocomplete="off" />\n'
end

--- The login page for session `s`; `message` is an error to show.
function M.login_page(st, s, message)
  local variant = st.config.login_page
  local p = {
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8" />\n',
    "<title>Enlighten | Login</title>\n",
    '<meta name="csrf-param" content="authenticity_token" />\n',
  }
  if variant ~= "no_token" then
    p[#p + 1] = '<meta name="csrf-token" content="' .. st:auth_token(s) .. '" />\n'
  end
  p[#p + 1] = "</head>\n<body>\n"
  if message then
    p[#p + 1] = '<div class="alert alert-danger" id="flash_alert">' .. message .. "</div>\n"
  end
  if variant == "two_tokens" then
    p[#p + 1] = '<form id="locale_form" action="/locale" accept-charset="UTF-8" method="post">\n'
    p[#p + 1] = hidden_token(st:auth_token(s))
    p[#p + 1] = '<select name="locale"><option value="en">English</option></select>\n</form>\n'
  end
  p[#p + 1] = '<form class="new_user" id="new_user" action="/login/login" '
    .. 'accept-charset="UTF-8" method="post">\n'
  p[#p + 1] = '<input name="utf8" type="hidden" value="&#x2713;" autocomplete="off" />\n'
  if variant == "normal" or variant == "two_tokens" then
    p[#p + 1] = hidden_token(st:auth_token(s))
  end
  p[#p + 1] = '<label for="user_email">Email</label>\n'
    .. '<input autofocus="autofocus" type="email" name="user[email]" id="user_email" />\n'
    .. '<label for="user_password">Password</label>\n'
    .. '<input autocomplete="off" type="password" name="user[password]" id="user_password" />\n'
    .. '<input type="submit" name="commit" value="Sign In" class="btn btn-primary" />\n'
    .. "</form>\n</body>\n</html>\n"
  return table.concat(p)
end

-- 200 with the login page (what Enlighten answers for an expired session
-- where JSON was expected).
local function login_answer(st, req, status, message)
  local headers = {}
  local s = get_session(st, req, headers)
  return http.html(status or 200, M.login_page(st, s, message), headers)
end

function M.get_login(sim, req)
  return login_answer(sim.state, req, 200)
end

local INVALID_TOKEN = "<!DOCTYPE html>\n<html>\n<head><title>ActionController::InvalidAuthenticityToken"
  .. " (422)</title></head>\n<body>\n<h1>ActionController::InvalidAuthenticityToken</h1>\n"
  .. "<p>The change you wanted was rejected. Can't verify CSRF token authenticity.</p>\n"
  .. "</body>\n</html>\n"

function M.post_login(sim, req)
  local st = sim.state
  st.counters.login_attempts = st.counters.login_attempts + 1
  local s = st:session(req.cookies[M.SESSION_COOKIE])
  local form = http.decode_form(req.body)
  local token = form.authenticity_token
  if not s or not token or not s.tokens[token] then
    req.note = "invalid authenticity token"
    return http.html(422, INVALID_TOKEN)
  end
  local acct = st:account_by_email(form["user[email]"])
  if acct and acct.locked then
    req.note = "account locked"
    return http.html(200, M.login_page(st, s,
      "Too many active sessions. Please log out of other sessions and try again later."))
  end
  if not acct or acct.password ~= form["user[password]"] then
    req.note = "bad credentials"
    return http.html(200, M.login_page(st, s, "Invalid email or password."))
  end
  if acct.mfa then
    req.note = "mfa required"
    s.otp_account = acct
    return http.redirect("/login/otp", {
      { "Set-Cookie", "login_otp_nonce=" .. jwt.random_hex(16)
        .. "; path=/; HttpOnly" },
    })
  end
  -- success: a new session id, logged in
  st:drop_session(s)
  local ns = st:new_session()
  ns.account = acct
  st.counters.logins = st.counters.logins + 1
  return http.redirect("/", { session_cookie(ns.id) })
end

function M.get_otp(_, _)
  return http.html(200, "<!DOCTYPE html>\n<html><head><title>Enlighten | Verify</title></head>\n"
    .. "<body>\n<form action=\"/login/otp\" method=\"post\">\n"
    .. "<p>Enter the one-time password (OTP) sent to your e-mail.</p>\n"
    .. '<input type="text" name="otp" />\n</form>\n</body></html>\n')
end

function M.logout(sim, req)
  local s = sim.state:session(req.cookies[M.SESSION_COOKIE])
  if s then
    sim.state:drop_session(s)
  end
  return http.redirect("/login")
end

function M.root(sim, req)
  local s = M.logged_in(sim.state, req)
  if not s then
    return http.redirect("/login")
  end
  return http.redirect(string.format("/web/%d/today", s.account.site_id))
end

function M.today(sim, req, site)
  local s = M.logged_in(sim.state, req)
  if not s then
    return http.redirect("/login")
  end
  if site ~= string.format("%d", s.account.site_id) then
    return http.html(403, "<html><body><h1>Forbidden</h1></body></html>\n")
  end
  return http.html(200, string.format("<!DOCTYPE html>\n<html><head><title>Enlighten | Today"
    .. "</title></head>\n<body data-site-id=\"%d\">\n<h1>Today</h1>\n</body></html>\n",
    s.account.site_id))
end

function M.jwt_token(sim, req)
  local st = sim.state
  local s = M.logged_in(st, req)
  if not s then
    req.note = "not logged in"
    return login_answer(st, req, 200)
  end
  local token = st:session_jwt(s)
  return http.json(200, { token = token })
end

function M.data_json(sim, req, site)
  local st = sim.state
  local s = M.logged_in(st, req)
  if not s then
    req.note = "not logged in"
    return login_answer(st, req, 200)
  end
  local a = s.account
  if site ~= string.format("%d", a.site_id) then
    return http.json(403, { error = "Forbidden", message = "not your site" })
  end
  return http.json(200, {
    app = {
      userId = a.user_id,
      email = a.email,
      timezone = a.timezone,
      locale = "en",
      siteId = a.site_id,
      isDemo = false,
    },
    system = {
      system_id = a.site_id,
      name = "Simulated site",
      timezone = a.timezone,
      status = "normal",
      has_encharge = true,
      has_enpower = true,
    },
  })
end

function M.routes(router)
  router:add("GET", "/login", M.get_login)
  router:add("POST", "/login/login", M.post_login)
  router:add("GET", "/login/otp", M.get_otp)
  router:add("GET", "/logout", M.logout)
  router:add("GET", "/", M.root)
  router:add("GET", "/web/([^/]+)/today", M.today)
  router:add("GET", "/app%-api/jwt_token%.json", M.jwt_token)
  router:add("GET", "/app%-api/([^/]+)/data%.json", M.data_json)
end

return M
