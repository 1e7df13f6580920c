/*
 * A session's life (lifecycle.h): core.new checks the options table into a
 * new session with its libcurl handle; close releases everything it holds.
 */
#include "lifecycle.h"

#include "compat.h"
#include "engine.h"
#include "http.h"
#include "secret.h"
#include "session.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_USER_AGENT                                                    \
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "   \
    "like Gecko) Chrome/122.0 Safari/537.36"

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

/* options[field] as an integer, at least min (options.lua checked the
 * range; the clamp only keeps the sizes defined). */
static lua_Integer opt_integer(lua_State *L, const char *field,
                               lua_Integer dflt, lua_Integer min)
{
    lua_Integer v = dflt;
    lua_getfield(L, 1, field);
    if (!lua_isnil(L, -1) && session_to_integer(L, -1, &v) != 0)
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

/* A registry reference to options[field], a table (one made here when it
 * is absent): the one home of what the session reads from it. */
static int opt_ref(lua_State *L, const char *field)
{
    lua_getfield(L, 1, field);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
    } else if (!lua_istable(L, -1)) {
        opt_error(L, field, "table");
    }
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* ------------------------------------------------------------------ */
/* core.new                                                            */
/* ------------------------------------------------------------------ */

int lifecycle_new(lua_State *L)
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
    s->site_ref = LUA_NOREF;
    s->jwt_ref = LUA_NOREF;
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
    s->site_ref = opt_ref(L, "site");
    s->jwt_ref = opt_ref(L, "jwt");
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
/* close                                                               */
/* ------------------------------------------------------------------ */

int lifecycle_close(lua_State *L)
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
    luaL_unref(L, LUA_REGISTRYINDEX, s->site_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, s->jwt_ref);
    s->site_ref = LUA_NOREF;
    s->jwt_ref = LUA_NOREF;
    return 0;
}
