/*
 * s:login() and s:refresh_jwt(): the web login of the seed's
 * get_jwt_and_login (GET /login, POST /login/login, GET
 * /app-api/jwt_token.json). Messages never carry the password, the JWT or a
 * cookie value.
 */
#include "login.h"

#include "errors.h"
#include "http.h"
#include "json.h"
#include "parse.h"
#include "secret.h"
#include "text.h"

#include "compat.h"
#include <stdlib.h>
#include <string.h>

#define LOGIN_PAGE "GET /login"
#define LOGIN_POST "POST /login/login"
#define JWT_GET "GET /app-api/jwt_token.json"

/* Case-insensitive search of a lower-case needle in s[0..n); with word set,
 * the match must not touch a letter or digit on either side. */
static int mentions(const char *s, size_t n, const char *needle, int word)
{
    size_t m = strlen(needle), i, j;
    if (s == NULL)
        return 0;
    for (i = 0; i + m <= n; i++) {
        for (j = 0; j < m; j++)
            if (text_lower((unsigned char)s[i + j]) != needle[j])
                break;
        if (j < m)
            continue;
        if (!word || ((i == 0 || !text_is_alnum((unsigned char)s[i - 1])) &&
                      (i + m == n || !text_is_alnum((unsigned char)s[i + m]))))
            return 1;
    }
    return 0;
}

static int mentions_mfa(const char *s, size_t n)
{
    return mentions(s, n, "otp", 1) || mentions(s, n, "mfa", 1);
}

int login_is_html(const session *s)
{
    const char *ct = http_response_header(s, "content-type");
    size_t i;
    if (ct != NULL && mentions(ct, strlen(ct), "text/html", 0))
        return 1;
    for (i = 0; i < s->resp.body_len; i++) {
        char c = s->resp.body[i];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
            return c == '<';
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The JWT                                                             */
/* ------------------------------------------------------------------ */

void login_prepare_jwt(lua_State *L, session *s)
{
    http_request rq = {JWT_GET, "GET", NULL, NULL, 0};
    rq.url = session_push_url(L, s, "/app-api/jwt_token.json");
    http_clear_headers(s);
    http_prepare(L, s, &rq);
    lua_pop(L, 1);
}

/* Pushes the string of the json_value at index 1 (a light userdata). */
static int push_json_string(lua_State *L)
{
    const json_value *v = lua_touserdata(L, 1);
    lua_pushlstring(L, v->str, v->len);
    return 1;
}

/* Pushes v's string, in a protected call: a Lua error (no memory) must not
 * skip the wiping of v. Returns 0, or -1 with nothing pushed. */
static int push_protected(lua_State *L, const json_value *v)
{
    lua_pushcfunction(L, push_json_string);
    lua_pushlightuserdata(L, (void *)v);
    if (lua_pcall(L, 1, 1, 0) != 0) {
        lua_pop(L, 1);
        return -1;
    }
    return 0;
}

int login_take_jwt(lua_State *L, session *s)
{
    static const char *const path[] = {"token"};
    json_value v = {JSON_NONE, 0, NULL, 0};
    const char *why = NULL;
    int64_t exp = 0;
    long st;
    int n = http_finish(L, s);
    if (n > 0)
        return n;
    st = s->resp.status;
    if ((st >= 300 && st < 400) || st == 401)
        return push_failure(L, KIND_SESSION, "%s: not logged in (HTTP %d)",
                            JWT_GET, (int)st);
    if (st < 200 || st >= 300)
        return push_failure(L, KIND_HTTP, "%s: HTTP %d", JWT_GET, (int)st);
    if (login_is_html(s))
        return push_failure(L, KIND_SESSION,
                            "%s: not logged in (got an HTML page)", JWT_GET);
    /* No Lua call until v is freed: it may hold the JWT. */
    if (json_lookup(s->resp.body, s->resp.body_len, path, 1, &v) != 0)
        why = "the answer is not JSON";
    else if (v.type != JSON_STRING)
        why = "the answer has no string token";
    else if (!jwt_is_header_safe(v.str, v.len))
        why = "the token is not a JWT";
    else if (jwt_exp(v.str, v.len, &exp, &why) == 0 &&
             push_protected(L, &v) != 0)
        why = "not enough memory";
    if (v.str != NULL)
        secret_free(&v.str);
    json_value_free(&v);
    if (why != NULL)
        return push_failure(L, KIND_PROTOCOL, "%s: %s", JWT_GET, why);
    session_store_jwt(L, s, (lua_Integer)exp); /* the string pushed */
    return 0;
}

/* s:refresh_jwt(): phase 0 sends the GET, phase 1 reads the JWT. */
static int refresh_step(lua_State *L, session *s)
{
    lua_Integer exp = 0;
    int n;
    if (s->xfer.phase == 0) {
        login_prepare_jwt(L, s);
        s->xfer.phase = 1;
        return HTTP_TRANSFER;
    }
    n = login_take_jwt(L, s);
    if (n > 0)
        return n;
    (void)session_push_jwt(L, s, &exp);
    lua_pop(L, 1);
    lua_pushinteger(L, exp);
    return 1;
}

int login_refresh_jwt(lua_State *L)
{
    session *s = session_check(L, 1);
    lua_settop(L, 1);
    return http_run(L, s, refresh_step);
}

/* ------------------------------------------------------------------ */
/* The login form                                                      */
/* ------------------------------------------------------------------ */

/* Builds the login form into s->form; 0, or -1 when out of memory. */
static int build_form(session *s, const char *token, size_t tlen)
{
    /* The seed's fields; names URL-encoded too, as a browser sends them. */
    static const char *const keys[] = {
        "utf8=%E2%9C%93&authenticity_token=", "&user%5Bemail%5D=",
        "&user%5Bpassword%5D="};
    char *vals[3] = {NULL, NULL, NULL};
    size_t lens[3], total = 0, i;
    int rc = -1;

    vals[0] = curl_easy_escape(s->curl, token, (int)tlen);
    vals[1] = curl_easy_escape(s->curl, s->email, (int)s->email_len);
    vals[2] = curl_easy_escape(s->curl, s->password, (int)s->password_len);
    for (i = 0; i < 3; i++) {
        if (vals[i] == NULL)
            goto cleanup;
        lens[i] = strlen(vals[i]);
        total += strlen(keys[i]) + lens[i];
    }
    secret_free_n(&s->form, s->form_len);
    s->form_len = 0;
    s->form = malloc(total + 1);
    if (s->form == NULL)
        goto cleanup;
    for (i = 0; i < 3; i++) {
        memcpy(s->form + s->form_len, keys[i], strlen(keys[i]));
        s->form_len += strlen(keys[i]);
        memcpy(s->form + s->form_len, vals[i], lens[i]);
        s->form_len += lens[i];
    }
    s->form[s->form_len] = '\0';
    rc = 0;
cleanup:
    for (i = 0; i < 3; i++) {
        if (vals[i] != NULL) {
            secret_wipe(vals[i], strlen(vals[i]));
            curl_free(vals[i]);
        }
    }
    return rc;
}

/* Classifies the answer to the login POST: 0 (logged in) or a failure. */
static int login_outcome(lua_State *L, session *s)
{
    long st = s->resp.status;
    const char *loc = s->resp.location, *body = s->resp.body;
    size_t blen = s->resp.body_len;
    char *nonce = NULL;
    int otp = http_cookie(s, "login_otp_nonce", &nonce);
    secret_free(&nonce);
    if (st == 423 || st == 429)
        return push_failure(L, KIND_LOCKED,
                            "%s: account locked or too many attempts "
                            "(HTTP %d)",
                            LOGIN_POST, (int)st);
    if (otp == 1 || (loc != NULL && mentions_mfa(loc, strlen(loc))))
        return push_failure(L, KIND_MFA,
                            "%s: the account asks for a one-time code "
                            "(multi-factor authentication)",
                            LOGIN_POST);
    if (st >= 300 && st < 400) {
        if (loc != NULL && !url_is_login_page(loc, strlen(loc)))
            return 0;
        return push_failure(L, KIND_AUTH,
                            "%s: login refused (redirected to the login page)",
                            LOGIN_POST);
    }
    if (st >= 500)
        return push_failure(L, KIND_HTTP, "%s: HTTP %d", LOGIN_POST, (int)st);
    if (mentions(body, blen, "too many", 0))
        return push_failure(L, KIND_LOCKED,
                            "%s: account locked (too many sessions or "
                            "attempts)",
                            LOGIN_POST);
    if (!mentions(body, blen, "invalid", 1) && mentions_mfa(body, blen))
        return push_failure(L, KIND_MFA,
                            "%s: the account asks for a one-time code "
                            "(multi-factor authentication)",
                            LOGIN_POST);
    return push_failure(L, KIND_AUTH,
                        "%s: invalid email or password (HTTP %d)", LOGIN_POST,
                        (int)st);
}

/* Is the "not logged in" answer of jwt_token.json the login page: a 401, a
 * redirect to it, or a page with the login form's token? */
static int jwt_answer_is_login(const session *s)
{
    char token[PARSE_TOKEN_MAX + 1];
    long st = s->resp.status;
    const char *loc = s->resp.location;
    if (st == 401)
        return 1;
    if (st >= 300 && st < 400)
        return loc == NULL || url_is_login_page(loc, strlen(loc));
    return extract_authenticity_token(s->resp.body, s->resp.body_len, token,
                                      sizeof token) > 0;
}

/* The phases of s:login(). LOGIN_AGAIN is added to them once the login
 * page was fetched a second time, after a 422. */
enum { LOGIN_START, LOGIN_GOT_PAGE, LOGIN_POSTED, LOGIN_GOT_JWT };
#define LOGIN_AGAIN 0x10

/* GET /login, on a clean slate: no tokens, no cookies. */
static int login_get_page(lua_State *L, session *s, int again)
{
    http_request rq = {LOGIN_PAGE, "GET", NULL, NULL, 0};
    session_forget_tokens(s);
    lua_pushnil(L);
    session_store_jwt(L, s, 0);
    http_clear_cookies(s);
    rq.url = session_push_url(L, s, "/login");
    http_clear_headers(s);
    http_prepare(L, s, &rq);
    lua_pop(L, 1);
    s->xfer.phase = LOGIN_GOT_PAGE | again;
    return HTTP_TRANSFER;
}

/* GET /login: the authenticity_token, then the form's POST. */
static int login_post_form(lua_State *L, session *s)
{
    char token[PARSE_TOKEN_MAX + 1];
    size_t tlen;
    http_request rq = {LOGIN_POST, "POST", NULL, NULL, 0};
    int n = http_finish(L, s);
    if (n > 0)
        return n;
    if (s->resp.status < 200 || s->resp.status >= 300)
        return push_failure(L, KIND_HTTP, "%s: HTTP %d", LOGIN_PAGE,
                            (int)s->resp.status);
    tlen = extract_authenticity_token(s->resp.body, s->resp.body_len, token,
                                      sizeof token);
    if (tlen == 0)
        return push_failure(L, KIND_PROTOCOL,
                            "%s: no authenticity_token in the login page",
                            LOGIN_PAGE);
    http_clear_headers(s);
    if (secret_set(&s->csrf, token, tlen) != 0 ||
        build_form(s, token, tlen) != 0 ||
        http_add_header(s, "Content-Type",
                        "application/x-www-form-urlencoded") != 0) {
        secret_free_n(&s->form, s->form_len);
        s->form_len = 0;
        return luaL_error(L, "not enough memory");
    }
    rq.url = session_push_url(L, s, "/login/login");
    rq.body = s->form;
    rq.body_len = s->form_len;
    http_prepare(L, s, &rq); /* copies the form: this one goes now */
    secret_free_n(&s->form, s->form_len);
    s->form_len = 0;
    lua_pop(L, 1);
    s->xfer.phase = LOGIN_POSTED | (s->xfer.phase & LOGIN_AGAIN);
    return HTTP_TRANSFER;
}

static int login_step(lua_State *L, session *s)
{
    int again = s->xfer.phase & LOGIN_AGAIN;
    int n;
    switch (s->xfer.phase & ~LOGIN_AGAIN) {
    case LOGIN_START:
        return login_get_page(L, s, 0);
    case LOGIN_GOT_PAGE:
        return login_post_form(L, s);
    case LOGIN_POSTED:
        n = http_finish(L, s);
        if (n > 0)
            return n;
        /* 422: the form's authenticity token was refused (stale, or the
         * session behind it gone), which says nothing of the credentials.
         * A new login page once; a second 422 is the server's doing. */
        if (s->resp.status == 422 && !again)
            return login_get_page(L, s, LOGIN_AGAIN);
        if (s->resp.status == 422)
            return push_failure(L, KIND_PROTOCOL,
                                "%s: HTTP 422 twice: the server refused the "
                                "login form (its authenticity token), not "
                                "the credentials",
                                LOGIN_POST);
        n = login_outcome(L, s);
        if (n > 0)
            return n;
        login_prepare_jwt(L, s);
        s->xfer.phase = LOGIN_GOT_JWT;
        return HTTP_TRANSFER;
    default:
        n = login_take_jwt(L, s);
        if (n > 0) {
            if (strcmp(lua_tostring(L, -1), KIND_SESSION) != 0)
                return n;
            lua_pop(L, n);
            /* Logged in a moment ago yet sent to the login page again: the
             * login failed. Another page (maintenance...) says nothing of
             * the credentials. */
            if (jwt_answer_is_login(s))
                return push_failure(L, KIND_AUTH,
                                    "%s: login not accepted (no JWT after it)",
                                    LOGIN_POST);
            return push_failure(L, KIND_PROTOCOL,
                                "%s: an HTML page or a redirect instead of "
                                "the JWT right after the login (HTTP %d)",
                                JWT_GET, (int)s->resp.status);
        }
        lua_pushboolean(L, 1);
        return 1;
    }
}

int login_login(lua_State *L)
{
    session *s = session_check(L, 1);
    lua_settop(L, 1);
    return http_run(L, s, login_step);
}
