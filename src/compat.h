/*
 * One source for Lua 5.3 and 5.4: the few Lua 5.4 C API calls the module
 * uses, mapped onto Lua 5.3 when compiled against its headers. Every .c
 * that uses the Lua API includes this instead of <lua.h>/<lauxlib.h>, and
 * is written against the 5.4 API.
 *
 * What differs and how it is handled:
 *   - lua_newuserdatauv(L, size, n): 5.3 userdata have exactly one user
 *     value (a table or nil), so n must be 0 or 1.
 *   - lua_getiuservalue / lua_setiuservalue: user value 1 only.
 *   - lua_resume(L, from, nargs, &nresults): 5.3 has no nresults; the
 *     values yielded or returned are the whole stack of the coroutine.
 *   - luaL_pushfail: nil, as in 5.4.
 *   - __close metamethods stay: 5.3 never calls them, and __gc does the
 *     same work there.
 * The rest of what the module uses (lua_yieldk, lua_KContext,
 * lua_isyieldable, luaL_setfuncs, luaL_newlib and its luaL_checkversion)
 * is the same in both.
 */
#ifndef ENPHASE_COMPAT_H
#define ENPHASE_COMPAT_H

#include <lauxlib.h>
#include <lua.h>

#if LUA_VERSION_NUM < 503 || LUA_VERSION_NUM > 504
#error "lua-enphase builds against Lua 5.3 or 5.4"
#endif

#if LUA_VERSION_NUM == 503

#define lua_newuserdatauv(L, size, nuvalue) lua_newuserdata((L), (size))

/* Pushes user value n (1 only) of the userdata at idx; returns its type,
 * or pushes nil and returns LUA_TNONE for another n. */
static inline int enphase_getiuservalue(lua_State *L, int idx, int n)
{
    if (n != 1) {
        lua_pushnil(L);
        return LUA_TNONE;
    }
    return lua_getuservalue(L, idx);
}
#define lua_getiuservalue(L, idx, n) enphase_getiuservalue((L), (idx), (n))

/* Pops a value and sets it as user value n (1 only) of the userdata at
 * idx; returns 0 (and pops) for another n. 5.3 accepts a table or nil. */
static inline int enphase_setiuservalue(lua_State *L, int idx, int n)
{
    if (n != 1) {
        lua_pop(L, 1);
        return 0;
    }
    lua_setuservalue(L, idx);
    return 1;
}
#define lua_setiuservalue(L, idx, n) enphase_setiuservalue((L), (idx), (n))

static inline int enphase_resume(lua_State *L, lua_State *from, int nargs,
                                 int *nresults)
{
    int status = lua_resume(L, from, nargs);
    *nresults = lua_gettop(L);
    return status;
}
#define lua_resume(L, from, nargs, nresults)                                  \
    enphase_resume((L), (from), (nargs), (nresults))

#define luaL_pushfail(L) lua_pushnil(L)

#endif /* LUA_VERSION_NUM == 503 */

#endif
