/*
 * One source for Lua 5.1 (and LuaJIT 2.1), 5.3 and 5.4: the module is
 * written against the 5.4 C API; compiled against older headers, the few
 * calls it uses are mapped here. Every file that uses the Lua API includes
 * this instead of <lua.h>/<lauxlib.h>.
 *
 * Lua 5.3:
 *   - lua_newuserdatauv(L, size, n): 5.3 userdata have exactly one user
 *     value (a table or nil), so n must be 0 or 1.
 *   - lua_getiuservalue / lua_setiuservalue: user value 1 only.
 *   - luaL_pushfail: nil, as in 5.4.
 *   - __close metamethods stay: 5.3 never calls them, and __gc does the
 *     same work there.
 * Lua 5.1 and LuaJIT (the 5.1 API; LuaJIT also loads a module built
 * against the lua5.1 headers): Debian's lua-compat53-dev (compat-5.3.h)
 * gives the 5.3 API as static copies (luaL_setfuncs, luaL_newlib,
 * lua_rawlen, lua_rawgetp/rawsetp, lua_tointegerx, lua_isinteger, the 5.3
 * luaL_Buffer...), and on top of it:
 *   - the 5.3 items above, with the user value being the userdata's
 *     environment (a table; lua_setiuservalue takes a table only);
 *   - lua_isyieldable: not the main thread (5.1 cannot tell a C call
 *     boundary; the engine only yields from coroutines it marked);
 *   - lua_pushfstring, lua_pushvfstring and luaL_error with the 5.3
 *     formats: 5.1 knows %d %s %f %p %c %% but not %I (a lua_Integer) nor
 *     %U, and would misread the arguments after them.
 *   - lua_Integer is ptrdiff_t but the values are doubles: integers are
 *     exact up to 2^53. lua_tointegerx takes integral values within
 *     +-2^53 only, and ids above ENPHASE_ID_MAX (2^53) are refused, never
 *     rounded (ids and epoch milliseconds are far below).
 * Nothing here yields across C: a step that waits returns to the Lua
 * wrapper that yields (http.h), the one way for every Lua.
 */
#ifndef ENPHASE_COMPAT_H
#define ENPHASE_COMPAT_H

#include <lauxlib.h>
#include <lua.h>
#include <stdarg.h>
#include <stdint.h>

#if LUA_VERSION_NUM == 501
#include <compat-5.3.h>
#elif LUA_VERSION_NUM < 503 || LUA_VERSION_NUM > 504
#error "lua-enphase builds against Lua 5.1 (LuaJIT), 5.3 or 5.4"
#endif

#if LUA_VERSION_NUM <= 503

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

#define luaL_pushfail(L) lua_pushnil(L)

#endif /* LUA_VERSION_NUM <= 503 */

#if LUA_VERSION_NUM == 501

/* Not the main thread: lua_pushthread tells (and pushes it). */
static inline int enphase_isyieldable(lua_State *L)
{
    int main = lua_pushthread(L);
    lua_pop(L, 1);
    return !main;
}
#define lua_isyieldable(L) enphase_isyieldable(L)

/* The largest integer an id may have: 2^53, the last one a double holds
 * exactly (5.1 has no integer subtype). Larger ids are refused, never
 * rounded. */
#define ENPHASE_ID_MAX ((lua_Integer)9007199254740992LL)

/* lua_tointegerx: a number (or numeric string) with an integral value
 * within +-2^53; anything else is not an integer (and no out-of-range
 * double is converted). */
static inline lua_Integer enphase_tointegerx(lua_State *L, int idx, int *isnum)
{
    int ok = 0;
    lua_Number n = lua_tonumberx(L, idx, &ok);
    if (ok && n >= -9007199254740992.0 && n <= 9007199254740992.0 &&
        (lua_Number)(lua_Integer)n == n) {
        if (isnum != NULL)
            *isnum = 1;
        return (lua_Integer)n;
    }
    if (isnum != NULL)
        *isnum = 0;
    return 0;
}
#undef lua_tointegerx
#define lua_tointegerx(L, idx, isnum) enphase_tointegerx((L), (idx), (isnum))

/* The 5.3 formats of lua_pushfstring on 5.1 (compat.c). */
const char *enphase_pushvfstring(lua_State *L, const char *fmt, va_list ap);
const char *enphase_pushfstring(lua_State *L, const char *fmt, ...);
int enphase_error(lua_State *L, const char *fmt, ...);
#define lua_pushvfstring enphase_pushvfstring
#define lua_pushfstring enphase_pushfstring
#define luaL_error enphase_error

#else

/* The largest id: lua_Integer holds every int64. */
#define ENPHASE_ID_MAX ((lua_Integer)INT64_MAX)

#endif /* LUA_VERSION_NUM == 501 */

#endif
