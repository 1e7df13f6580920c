/*
 * s:request: one call to the battery API with the seed's header set
 * (doc/internals.md section 1). Any HTTP status is a success here; only
 * transport faults fail.
 */
#include "request.h"

#include "battery.h"
#include "http.h"

#include "compat.h"
#include <stdio.h>
#include <string.h>

#define UI_ORIGIN "https://battery-profile-ui.enphaseenergy.com"

/* What a plan shows in place of a secret. */
#define REDACTED "[REDACTED]"

typedef int (*header_fn)(void *ud, const char *name, const char *value);

/*
 * The seed's headers of a battery API call, in order, each given to fn.
 * For a plan every header the call carries is listed, secrets as
 * REDACTED, and the cookies the cookie engine adds as one "cookie" line;
 * otherwise e-auth-token, username and x-xsrf-token only when known.
 */
static int each_api_header(const session *s, const char *jwt,
                           lua_Integer user_id, int full, int plan,
                           header_fn fn, void *ud)
{
    char user[32];
    if (full && fn(ud, "accept", "application/json, text/plain, */*"))
        return -1;
    if (fn(ud, "content-type", "application/json") ||
        fn(ud, "origin", UI_ORIGIN) || fn(ud, "referer", UI_ORIGIN "/"))
        return -1;
    if ((plan || jwt != NULL) && fn(ud, "e-auth-token", plan ? REDACTED : jwt))
        return -1;
    if (user_id > 0) /* at most 20 digits: cannot truncate */
        (void)snprintf(user, sizeof user, "%lld", (long long)user_id);
    else
        (void)snprintf(user, sizeof user, "<user>");
    if ((plan || user_id > 0) && fn(ud, "username", user))
        return -1;
    if (full && (plan || s->xsrf != NULL) &&
        fn(ud, "x-xsrf-token", plan ? REDACTED : s->xsrf))
        return -1;
    if (plan && fn(ud, "cookie", "BP-XSRF-Token=" REDACTED "; " REDACTED))
        return -1;
    return 0;
}

static int add_to_request(void *ud, const char *name, const char *value)
{
    return http_add_header(ud, name, value);
}

int request_api_headers(lua_State *L, session *s, int full)
{
    lua_Integer user = 0;
    const char *jwt;
    int rc;
    session_ids(L, s, NULL, &user);
    jwt = session_push_jwt(L, s, NULL); /* copied by libcurl's list */
    http_clear_headers(s);
    rc = each_api_header(s, jwt, user, full, 0, add_to_request, s);
    lua_pop(L, 1);
    return rc;
}

static int add_to_table(void *ud, const char *name, const char *value)
{
    lua_State *L = ud;
    lua_pushstring(L, value);
    lua_setfield(L, -2, name);
    return 0;
}

/* Raises unless s[0..n) is printable ASCII without spaces or '#'. */
static void check_url_part(lua_State *L, int arg, const char *what,
                           const char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c >= 0x7F || c == '#')
            luaL_argerror(L, arg,
                          lua_pushfstring(L,
                                          "%s: byte %d is not allowed in "
                                          "a URL (encode it)",
                                          what, (int)c));
    }
}

/* Pushes a table of the response headers; repeated names are joined with
 * ", ". */
static void push_headers(lua_State *L, const session *s)
{
    size_t i;
    lua_createtable(L, 0, (int)s->resp.nheaders);
    for (i = 0; i < s->resp.nheaders; i++) {
        const http_header *h = &s->resp.headers[i];
        if (lua_getfield(L, -1, h->name) == LUA_TSTRING) {
            lua_pushliteral(L, ", ");
            lua_pushstring(L, h->value);
            lua_concat(L, 3);
        } else {
            lua_pop(L, 1);
            lua_pushstring(L, h->value);
        }
        lua_setfield(L, -2, h->name);
    }
}

static const char *opt_field(lua_State *L, const char *field, size_t *len)
{
    *len = 0;
    if (lua_isnoneornil(L, 4))
        return NULL;
    lua_getfield(L, 4, field);
    if (lua_isnil(L, -1))
        return NULL;
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_argerror(L, 4,
                      lua_pushfstring(L, "%s: string expected, got %s", field,
                                      luaL_typename(L, -1)));
    return lua_tolstring(L, -1, len);
}

/* The answer of a finished transfer: status, body, headers. */
static int push_response(lua_State *L, session *s)
{
    int n = http_finish(L, s);
    if (n > 0)
        return n;
    lua_pushinteger(L, s->resp.status);
    lua_pushlstring(L, s->resp.body ? s->resp.body : "", s->resp.body_len);
    push_headers(L, s);
    return 3;
}

/* Starts the transfer of method base_url..path[?query] with body (NULL:
 * none) and the seed's full header set; the step then returns
 * HTTP_TRANSFER. */
static void start_call(lua_State *L, session *s, const char *method,
                       const char *path, size_t plen, const char *query,
                       size_t qlen, const char *body, size_t blen, int xhr)
{
    luaL_Buffer b;
    http_request rq;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, s->base_url);
    luaL_addlstring(&b, path, plen);
    if (query != NULL && qlen > 0) {
        luaL_addchar(&b, '?');
        luaL_addlstring(&b, query, qlen);
    }
    luaL_pushresult(&b);
    rq.url = lua_tostring(L, -1);
    rq.label = lua_pushfstring(L, "%s %s", method, path);
    rq.method = method;
    rq.body = body;
    rq.body_len = blen;
    if (request_api_headers(L, s, 1) != 0 ||
        (xhr && http_add_header(s, "X-Requested-With", "XMLHttpRequest") != 0))
        luaL_error(L, "not enough memory");
    http_prepare(L, s, &rq);
    lua_settop(L, 1);
    s->xfer.phase = 1;
}

/* Phase 0 reads the arguments (s, method, path, opts) and sends; phase 1
 * returns status, body, headers. */
static int request_step(lua_State *L, session *s)
{
    static const char *const methods[] = {"GET",    "POST",  "PUT",
                                          "DELETE", "PATCH", NULL};
    const char *method, *path, *query, *body;
    size_t plen, qlen, blen;
    int xhr = 0;

    if (s->xfer.phase == 1)
        return push_response(L, s);
    method = methods[luaL_checkoption(L, 2, NULL, methods)];
    path = luaL_checklstring(L, 3, &plen);
    if (!lua_isnoneornil(L, 4))
        luaL_checktype(L, 4, LUA_TTABLE);
    lua_settop(L, 4);
    if (!lua_isnil(L, 4)) {
        lua_getfield(L, 4, "xhr");
        xhr = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    luaL_argcheck(L, plen > 0 && path[0] == '/', 3, "path must start with /");
    check_url_part(L, 3, "path", path, plen);
    query = opt_field(L, "query", &qlen); /* stays on the stack */
    body = opt_field(L, "body", &blen);   /* idem */
    if (query != NULL)
        check_url_part(L, 4, "query", query, qlen);
    start_call(L, s, method, path, plen, query, qlen, body, blen, xhr);
    return HTTP_TRANSFER;
}

int request_call(lua_State *L)
{
    session *s = session_check(L, 1);
    return http_run(L, s, request_step);
}

/* s:plan(op [, args]) -> {op=, method=, url=, path=, query=, body=,
 * headers={name=value}}: the request s:send(op, args) would send, secrets
 * redacted, placeholders for what is not known yet. Sends nothing. */
int request_plan(lua_State *L)
{
    session *s = session_check(L, 1);
    battery_request rq;
    lua_Integer user = 0;
    battery_build(L, s, 2, 3, 1, &rq);
    lua_createtable(L, 0, 7);
    lua_pushstring(L, rq.op);
    lua_setfield(L, -2, "op");
    lua_pushstring(L, rq.method);
    lua_setfield(L, -2, "method");
    lua_pushstring(L, rq.path);
    lua_setfield(L, -2, "path");
    if (rq.query[0] != '\0') {
        lua_pushstring(L, rq.query);
        lua_setfield(L, -2, "query");
        lua_pushfstring(L, "%s%s?%s", s->base_url, rq.path, rq.query);
    } else {
        lua_pushfstring(L, "%s%s", s->base_url, rq.path);
    }
    lua_setfield(L, -2, "url");
    if (rq.has_body) {
        lua_pushlstring(L, rq.body, rq.body_len);
        lua_setfield(L, -2, "body");
    }
    session_ids(L, s, NULL, &user);
    lua_newtable(L);
    (void)each_api_header(s, NULL, user, 1, 1, add_to_table, L);
    lua_setfield(L, -2, "headers");
    return 1;
}

/* Phase 0 builds the operation (s, op, args) and sends it, leaving its
 * "METHOD path" at index 2; phase 1 returns status, body, headers and that
 * label. */
static int send_step(lua_State *L, session *s)
{
    battery_request rq;
    int n;
    if (s->xfer.phase == 1) {
        n = push_response(L, s);
        if (n != 3)
            return n;
        lua_pushvalue(L, 2);
        return 4;
    }
    battery_build(L, s, 2, 3, 0, &rq);
    start_call(L, s, rq.method, rq.path, strlen(rq.path), rq.query,
               strlen(rq.query), rq.has_body ? rq.body : NULL, rq.body_len, 0);
    lua_pushfstring(L, "%s %s", rq.method, rq.path);
    return HTTP_TRANSFER;
}

/* s:send(op [, args]) -> status, body, headers, "METHOD path" |
 * nil, message, kind */
int request_send(lua_State *L)
{
    session *s = session_check(L, 1);
    return http_run(L, s, send_step);
}
