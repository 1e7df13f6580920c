/*
 * The session record (session.h): its checks, ids, info and secrets. Its
 * creation and release are in lifecycle.c, above the request path.
 */
#include "session.h"

#include "secret.h"

#include "compat.h"

void session_forget_tokens(session *s)
{
    secret_free(&s->xsrf);
    secret_free(&s->csrf);
}

/* t[field] of the table at idx as an integer >= 1, else 0. No metamethod
 * runs. */
static lua_Integer raw_id(lua_State *L, int idx, const char *field)
{
    lua_Integer v = 0;
    lua_pushstring(L, field);
    lua_rawget(L, idx);
    if (session_to_integer(L, -1, &v) != 0 || v < 1)
        v = 0;
    lua_pop(L, 1);
    return v;
}

void session_ids(lua_State *L, const session *s, lua_Integer *site,
                 lua_Integer *user)
{
    lua_Integer a = 0, b = 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->site_ref);
    if (lua_istable(L, -1)) {
        a = raw_id(L, lua_gettop(L), "site_id");
        b = raw_id(L, lua_gettop(L), "user_id");
    }
    lua_pop(L, 1);
    if (site != NULL)
        *site = a;
    if (user != NULL)
        *user = b;
}

const char *session_push_jwt(lua_State *L, const session *s, lua_Integer *exp)
{
    const char *token = NULL;
    lua_Integer e = 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->jwt_ref);
    if (lua_istable(L, -1)) {
        int t = lua_gettop(L);
        lua_pushliteral(L, "token");
        lua_rawget(L, t);
        if (lua_type(L, -1) == LUA_TSTRING) {
            token = lua_tostring(L, -1);
            e = raw_id(L, t, "exp");
        }
        lua_remove(L, t);
    } else {
        lua_pop(L, 1);
        lua_pushnil(L);
    }
    if (exp != NULL)
        *exp = token != NULL ? e : 0;
    return token;
}

void session_store_jwt(lua_State *L, const session *s, lua_Integer exp)
{
    int has = lua_type(L, -1) == LUA_TSTRING;
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->jwt_ref);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 2);
        return;
    }
    lua_insert(L, -2);
    lua_pushliteral(L, "token");
    lua_insert(L, -2);
    lua_rawset(L, -3);
    lua_pushliteral(L, "exp");
    if (has)
        lua_pushinteger(L, exp);
    else
        lua_pushnil(L);
    lua_rawset(L, -3);
    lua_pop(L, 1);
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

/* Reads an integer from idx; integral floats count. Returns 0, or -1 when
 * the value is not a number, -2 when it is not integral. */
int session_to_integer(lua_State *L, int idx, lua_Integer *out)
{
    int ok = 0;
    if (lua_type(L, idx) != LUA_TNUMBER)
        return -1;
    *out = lua_tointegerx(L, idx, &ok);
    return ok ? 0 : -2;
}

/* ------------------------------------------------------------------ */
/* Methods                                                             */
/* ------------------------------------------------------------------ */

int session_info(lua_State *L)
{
    session *s = session_check(L, 1);
    lua_Integer site, user, exp;
    const char *jwt;
    lua_settop(L, 1);
    session_ids(L, s, &site, &user);
    jwt = session_push_jwt(L, s, &exp); /* 2 */
    lua_createtable(L, 0, 7);
    if (site > 0) {
        lua_pushinteger(L, site);
        lua_setfield(L, -2, "site_id");
    }
    if (user > 0) {
        lua_pushinteger(L, user);
        lua_setfield(L, -2, "user_id");
    }
    if (jwt != NULL) {
        lua_pushinteger(L, exp);
        lua_setfield(L, -2, "exp");
    }
    lua_pushboolean(L, jwt != NULL);
    lua_setfield(L, -2, "has_jwt");
    lua_pushboolean(L, s->xsrf != NULL);
    lua_setfield(L, -2, "has_xsrf");
    lua_pushinteger(L, s->requests);
    lua_setfield(L, -2, "requests");
    return 1;
}

int session_secrets(lua_State *L)
{
    session *s = session_check(L, 1);
    lua_settop(L, 1);
    lua_createtable(L, 0, 3); /* 2 */
    if (session_push_jwt(L, s, NULL) != NULL)
        lua_setfield(L, 2, "token");
    else
        lua_pop(L, 1);
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

int session_tostring(lua_State *L)
{
    session *s = luaL_checkudata(L, 1, SESSION_MT);
    lua_Integer site = 0;
    if (s->curl != NULL)
        session_ids(L, s, &site, NULL);
    if (s->curl == NULL)
        lua_pushliteral(L, "enphase.session (closed)");
    else if (site > 0)
        lua_pushfstring(L, "enphase.session (site %I)", site);
    else
        lua_pushliteral(L, "enphase.session (no site yet)");
    return 1;
}
