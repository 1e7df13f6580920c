/*
 * s:request: one call to the battery API with the seed's header set
 * (doc/internals.md section 1). Any HTTP status is a success here; only
 * transport faults fail.
 */
#include "request.h"

#include "http.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#define UI_ORIGIN "https://battery-profile-ui.enphaseenergy.com"

int request_api_headers(session *s, int full)
{
    char user[32];
    http_clear_headers(s);
    if (full &&
        http_add_header(s, "accept", "application/json, text/plain, */*"))
        return -1;
    if (http_add_header(s, "content-type", "application/json") ||
        http_add_header(s, "origin", UI_ORIGIN) ||
        http_add_header(s, "referer", UI_ORIGIN "/"))
        return -1;
    if (s->jwt != NULL && http_add_header(s, "e-auth-token", s->jwt))
        return -1;
    if (s->user_id > 0) {
        /* at most 20 digits: cannot truncate */
        (void)snprintf(user, sizeof user, LUA_INTEGER_FMT,
                       (LUAI_UACINT)s->user_id);
        if (http_add_header(s, "username", user))
            return -1;
    }
    if (full && s->xsrf != NULL && http_add_header(s, "x-xsrf-token", s->xsrf))
        return -1;
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

/* Phase 0 reads the arguments (s, method, path, opts) and sends; phase 1
 * returns status, body, headers. */
static int request_step(lua_State *L, session *s)
{
    static const char *const methods[] = {"GET",    "POST",  "PUT",
                                          "DELETE", "PATCH", NULL};
    const char *method, *path, *query, *body;
    size_t plen, qlen, blen;
    luaL_Buffer b;
    http_request rq;
    int n;

    if (s->xfer.phase == 1) {
        n = http_finish(L, s);
        if (n > 0)
            return n;
        lua_pushinteger(L, s->resp.status);
        lua_pushlstring(L, s->resp.body ? s->resp.body : "", s->resp.body_len);
        push_headers(L, s);
        return 3;
    }
    method = methods[luaL_checkoption(L, 2, NULL, methods)];
    path = luaL_checklstring(L, 3, &plen);
    if (!lua_isnoneornil(L, 4))
        luaL_checktype(L, 4, LUA_TTABLE);
    lua_settop(L, 4);
    luaL_argcheck(L, plen > 0 && path[0] == '/', 3, "path must start with /");
    check_url_part(L, 3, "path", path, plen);
    query = opt_field(L, "query", &qlen); /* stays on the stack */
    body = opt_field(L, "body", &blen);   /* idem */
    if (query != NULL)
        check_url_part(L, 4, "query", query, qlen);

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
    if (request_api_headers(s, 1) != 0)
        return luaL_error(L, "not enough memory");
    http_prepare(L, s, &rq);
    lua_settop(L, 1);
    s->xfer.phase = 1;
    return HTTP_TRANSFER;
}

int request_call(lua_State *L)
{
    session *s = session_check(L, 1);
    return http_run(L, s, request_step);
}
