/*
 * The session record (session.h): its checks, ids, info and secrets. Its
 * creation and release are in lifecycle.c, above the request path.
 */
#include "session.h"

#include "secret.h"

#include "compat.h"

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

static void check_id_arg(lua_State *L, int idx, const char *name,
                         lua_Integer *dst)
{
    lua_Integer v = 0;
    int rc;
    if (lua_isnoneornil(L, idx))
        return;
    rc = session_to_integer(L, idx, &v);
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
