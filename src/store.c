/*
 * enphase.store: what the token cache and the Lua layer need without a
 * session (doc/internals.md section 1): private files, the cache lock,
 * SHA-256, a JWT's expiry, the clocks and sleep. It links no libcurl, so a
 * warm start that finds a valid cached token loads no HTTP library at all.
 *
 * This file registers the module and holds the Lua faces of the pure C
 * helpers (clock.c, sha256.c, parse.c); files.c and lock.c hold their
 * own.
 */
#include "clock.h"
#include "files.h"
#include "lock.h"
#include "newfile.h"
#include "parse.h"
#include "sha256.h"

#include <errno.h>
#include "compat.h"
#include <stdint.h>
#include <string.h>

#if defined(_WIN32)
#define ENPHASE_API __declspec(dllexport)
#else
#define ENPHASE_API __attribute__((visibility("default")))
#endif

/* store.now() -> wall-clock time, float seconds since the epoch */
static int store_now(lua_State *L)
{
    double t;
    if (clock_wall(&t) != 0)
        return luaL_error(L, "clock_gettime: %s", strerror(errno));
    lua_pushnumber(L, (lua_Number)t);
    return 1;
}

/* store.monotonic() -> float seconds of a clock that never goes back */
static int store_monotonic(lua_State *L)
{
    double t;
    if (clock_monotonic(&t) != 0)
        return luaL_error(L, "clock_gettime: %s", strerror(errno));
    lua_pushnumber(L, (lua_Number)t);
    return 1;
}

/* store.sleep(seconds): sleeps the whole time, even when signals arrive */
static int store_sleep(lua_State *L)
{
    lua_Number t = luaL_checknumber(L, 1);
    luaL_argcheck(L, t >= 0 && t <= 86400.0 * 365, 1,
                  "seconds must be between 0 and one year");
    if (clock_sleep((double)t) != 0)
        return luaL_error(L, "nanosleep: %s", strerror(errno));
    return 0;
}

/* store.sha256(s) -> 64 lower-case hex digits */
static int store_sha256(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    char hex[65];
    sha256_hex(s, n, hex);
    lua_pushlstring(L, hex, 64);
    return 1;
}

/* store.jwt_exp(jwt) -> exp | nil, message: a cached JWT's expiry, read
 * without a session */
static int store_jwt_exp(lua_State *L)
{
    size_t n;
    const char *jwt = luaL_checklstring(L, 1, &n);
    const char *why = NULL;
    int64_t exp = 0;
    if (jwt_exp(jwt, n, &exp, &why) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, why);
        return 2;
    }
    lua_pushinteger(L, (lua_Integer)exp);
    return 1;
}

static const luaL_Reg functions[] = {
    {"now", store_now},
    {"monotonic", store_monotonic},
    {"sleep", store_sleep},
    {"sha256", store_sha256},
    {"jwt_exp", store_jwt_exp},
    {"file_mode", files_mode},
    {"write_private", files_write_private},
    {"check_private", files_check_private},
    {"make_private_dir", files_make_private_dir},
    {"lock", lock_acquire},
    {"own_dir", newfile_own_dir},
    {"create", newfile_create},
    {NULL, NULL}};

ENPHASE_API int luaopen_enphase_store(lua_State *L);

ENPHASE_API int luaopen_enphase_store(lua_State *L)
{
    lock_register(L);
    newfile_register(L);
    luaL_newlib(L, functions);
    return 1;
}
