/*
 * The session userdata: creation from the options table, ids, info, close.
 */
#include "session.h"

#include "compat.h"
#include "http.h"
#include "store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_USER_AGENT                                                    \
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "   \
    "like Gecko) Chrome/122.0 Safari/537.36"

/* ------------------------------------------------------------------ */
/* Secrets                                                             */
/* ------------------------------------------------------------------ */

void secret_free(char **p)
{
    if (*p != NULL) {
        volatile char *v = *p;
        while (*v != '\0')
            *v++ = '\0';
        free(*p);
        *p = NULL;
    }
}

int secret_set(char **dst, const char *src, size_t n)
{
    char *c = malloc(n + 1);
    if (c == NULL)
        return -1;
    memcpy(c, src, n);
    c[n] = '\0';
    secret_free(dst);
    *dst = c;
    return 0;
}

void secret_free_n(char **p, size_t n)
{
    if (*p != NULL) {
        volatile char *v = *p;
        while (n-- > 0)
            *v++ = '\0';
        free(*p);
        *p = NULL;
    }
}

void session_forget_tokens(session *s)
{
    secret_free(&s->jwt);
    secret_free(&s->xsrf);
    secret_free(&s->csrf);
    s->exp = 0;
}

const char *session_push_url(lua_State *L, const session *s, const char *path)
{
    return lua_pushfstring(L, "%s%s", s->base_url, path);
}

session *session_check(lua_State *L, int idx)
{
    session *s = luaL_checkudata(L, idx, SESSION_MT);
    if (s->curl == NULL)
        luaL_error(L, "attempt to use a closed session");
    return s;
}

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

static int opt_error(lua_State *L, const char *field, const char *expected)
{
    const char *got = lua_type(L, -1) == LUA_TNUMBER && lua_isinteger(L, -1)
                          ? "integer"
                          : luaL_typename(L, -1);
    return luaL_argerror(
        L, 1,
        lua_pushfstring(L, "%s: %s expected, got %s", field, expected, got));
}

/* Pushes options[field]; raises unless it is a string (or nil when
 * optional). Returns the string or NULL. */
static const char *opt_string(lua_State *L, const char *field, int required,
                              size_t *len)
{
    lua_getfield(L, 1, field);
    if (lua_isnil(L, -1) && !required)
        return NULL;
    if (lua_type(L, -1) != LUA_TSTRING)
        opt_error(L, field, "string");
    return lua_tolstring(L, -1, len);
}

/* A copy of options[field] into *dst (wiped on close). */
static void opt_copy(lua_State *L, const char *field, char **dst, size_t *len)
{
    size_t n;
    const char *v = opt_string(L, field, 1, &n);
    if (secret_set(dst, v, n) != 0)
        luaL_error(L, "not enough memory");
    if (len != NULL)
        *len = n;
    lua_pop(L, 1);
}

/* options[field] in seconds, as milliseconds. options.lua checked the
 * range; the clamp only keeps the conversion defined. */
static long opt_millis(lua_State *L, const char *field, double dflt)
{
    double v = dflt;
    lua_getfield(L, 1, field);
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER)
            opt_error(L, field, "number");
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    if (!(v > 0.001))
        v = 0.001;
    if (v > 86400.0 * 365)
        v = 86400.0 * 365;
    return (long)ceil(v * 1000.0);
}

/* Reads an integer from idx; integral floats count. Returns 0, or -1 when
 * the value is not a number, -2 when it is not integral. */
static int to_integer(lua_State *L, int idx, lua_Integer *out)
{
    int ok = 0;
    if (lua_type(L, idx) != LUA_TNUMBER)
        return -1;
    *out = lua_tointegerx(L, idx, &ok);
    return ok ? 0 : -2;
}

/* options[field] as an integer, at least min (options.lua checked the
 * range; the clamp only keeps the sizes defined). */
static lua_Integer opt_integer(lua_State *L, const char *field,
                               lua_Integer dflt, lua_Integer min)
{
    lua_Integer v = dflt;
    lua_getfield(L, 1, field);
    if (!lua_isnil(L, -1) && to_integer(L, -1, &v) != 0)
        opt_error(L, field, "integer");
    lua_pop(L, 1);
    return v < min ? min : v;
}

/* Stores base_url and its host as libcurl reads it. options.lua checked
 * the URL (and dropped trailing slashes); the error below is only reached
 * by a caller of enphase.core itself. */
static void opt_base_url(lua_State *L, session *s)
{
    size_t n;
    const char *v = opt_string(L, "base_url", 1, &n);
    CURLU *u;
    char *host = NULL, *scheme = NULL;
    int ok;
    while (n > 0 && v[n - 1] == '/')
        n--;
    if (secret_set(&s->base_url, v, n) != 0)
        luaL_error(L, "not enough memory");
    lua_pop(L, 1);
    u = curl_url();
    if (u == NULL)
        luaL_error(L, "not enough memory");
    ok = strlen(s->base_url) == n &&
         curl_url_set(u, CURLUPART_URL, s->base_url, 0) == CURLUE_OK &&
         curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
         curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
         (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0);
    if (ok)
        ok = secret_set(&s->base_host, host, strlen(host)) == 0;
    curl_free(host);
    curl_free(scheme);
    curl_url_cleanup(u);
    if (!ok)
        luaL_argerror(L, 1, "base_url: an http:// or https:// URL expected");
}

/* An id, or 0 (not known yet). */
static lua_Integer opt_id(lua_State *L, const char *field)
{
    return opt_integer(L, field, 0, 0);
}

/* ------------------------------------------------------------------ */
/* core.new                                                            */
/* ------------------------------------------------------------------ */

int session_new(lua_State *L)
{
    session *s;
    http_options o;
    lua_Integer max_body, max_redirs;
    CURLcode rc;
    int top;

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    /* The userdata first (at 2), closed (curl == NULL): whatever is
     * allocated below belongs to it and is freed by __gc if a check raises. */
    s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    luaL_setmetatable(L, SESSION_MT);

    opt_base_url(L, s);
    opt_copy(L, "email", &s->email, &s->email_len);
    opt_copy(L, "password", &s->password, &s->password_len);
    o.timeout_ms = opt_millis(L, "timeout", 30);
    o.connect_timeout_ms = opt_millis(L, "connect_timeout", 10);
    max_body = opt_integer(L, "max_body", 4194304, 1);
    max_redirs = opt_integer(L, "max_redirs", 10, 0);
    s->max_body = (size_t)max_body;
    s->max_redirs = max_redirs > 1000 ? 1000 : (long)max_redirs;
    o.max_redirs = s->max_redirs;
    s->site_id = opt_id(L, "site_id");
    s->user_id = opt_id(L, "user_id");
    lua_getfield(L, 1, "verify_tls");
    if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
        opt_error(L, "verify_tls", "boolean");
    o.verify_tls = lua_isnil(L, -1) || lua_toboolean(L, -1);
    lua_pop(L, 1);
    /* These two stay on the stack until libcurl has copied them. */
    top = lua_gettop(L);
    o.user_agent = opt_string(L, "user_agent", 0, NULL);
    if (o.user_agent == NULL)
        o.user_agent = DEFAULT_USER_AGENT;
    o.ca_file = opt_string(L, "ca_file", 0, NULL);

    s->curl = curl_easy_init();
    if (s->curl == NULL)
        return luaL_error(L, "curl_easy_init failed");
    rc = http_setup(s, &o);
    if (rc != CURLE_OK)
        return luaL_error(L, "cannot configure libcurl: %s",
                          curl_easy_strerror(rc));
    lua_settop(L, top);
    lua_pushvalue(L, 2);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Methods                                                             */
/* ------------------------------------------------------------------ */

static void check_id_arg(lua_State *L, int idx, const char *name,
                         lua_Integer *dst)
{
    lua_Integer v = 0;
    int rc;
    if (lua_isnoneornil(L, idx))
        return;
    rc = to_integer(L, idx, &v);
    if (rc != 0)
        luaL_argerror(L, idx,
                      lua_pushfstring(L, "%s: integer expected, got %s", name,
                                      rc == -2 ? "non-integral number"
                                               : luaL_typename(L, idx)));
    if (v < 1)
        luaL_argerror(L, idx, lua_pushfstring(L, "%s: must be >= 1", name));
    *dst = v;
}

int session_set_ids(lua_State *L)
{
    session *s = session_check(L, 1);
    lua_Integer site = s->site_id, user = s->user_id;
    check_id_arg(L, 2, "site_id", &site);
    check_id_arg(L, 3, "user_id", &user);
    s->site_id = site;
    s->user_id = user;
    return 0;
}

int session_info(lua_State *L)
{
    session *s = session_check(L, 1);
    lua_createtable(L, 0, 7);
    if (s->site_id > 0) {
        lua_pushinteger(L, s->site_id);
        lua_setfield(L, -2, "site_id");
    }
    if (s->user_id > 0) {
        lua_pushinteger(L, s->user_id);
        lua_setfield(L, -2, "user_id");
    }
    if (s->jwt != NULL) {
        lua_pushinteger(L, s->exp);
        lua_setfield(L, -2, "exp");
    }
    lua_pushboolean(L, s->jwt != NULL);
    lua_setfield(L, -2, "has_jwt");
    lua_pushboolean(L, s->xsrf != NULL);
    lua_setfield(L, -2, "has_xsrf");
    lua_pushinteger(L, s->requests);
    lua_setfield(L, -2, "requests");
    return 1;
}

/* s:generation(): grows whenever the JWT, XSRF, ids or cookies changed
 * since the previous call. Kept out of info(), which every request reads:
 * it walks the cookie engine. */
int session_generation(lua_State *L)
{
    session *s = session_check(L, 1);
    lua_pushinteger(L, store_generation(s));
    return 1;
}

int session_secrets(lua_State *L)
{
    session *s = session_check(L, 1);
    lua_createtable(L, 0, 3);
    if (s->jwt != NULL) {
        lua_pushstring(L, s->jwt);
        lua_setfield(L, -2, "token");
    }
    if (s->xsrf != NULL) {
        lua_pushstring(L, s->xsrf);
        lua_setfield(L, -2, "xsrf");
    }
    if (s->csrf != NULL) {
        lua_pushstring(L, s->csrf);
        lua_setfield(L, -2, "csrf");
    }
    return 1;
}

int session_close(lua_State *L)
{
    session *s = luaL_checkudata(L, 1, SESSION_MT);
    engine_detach(s); /* out of the multi handle before the cleanup */
    http_release(s);
    free(s->xfer.label);
    s->xfer.label = NULL;
    if (s->curl != NULL) {
        curl_easy_cleanup(s->curl); /* also drops the cookies */
        s->curl = NULL;
    }
    http_free_pool(s); /* its connection */
    http_response_free(&s->resp);
    free(s->base_url);
    s->base_url = NULL;
    free(s->base_host);
    s->base_host = NULL;
    free(s->email);
    s->email = NULL;
    secret_free_n(&s->password, s->password_len);
    s->password_len = 0;
    secret_free_n(&s->form, s->form_len);
    s->form_len = 0;
    session_forget_tokens(s);
    return 0;
}

int session_tostring(lua_State *L)
{
    session *s = luaL_checkudata(L, 1, SESSION_MT);
    if (s->curl == NULL)
        lua_pushliteral(L, "enphase.session (closed)");
    else if (s->site_id > 0)
        lua_pushfstring(L, "enphase.session (site %I)", s->site_id);
    else
        lua_pushliteral(L, "enphase.session (no site yet)");
    return 1;
}
