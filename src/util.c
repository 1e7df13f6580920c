/*
 * core.now, core.monotonic, core.sleep, core.file_mode.
 */
#define _POSIX_C_SOURCE 200809L

#include "util.h"

#include <errno.h>
#include <lauxlib.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static lua_Number seconds(const struct timespec *ts)
{
    return (lua_Number)ts->tv_sec + (lua_Number)ts->tv_nsec / 1e9;
}

/* core.now() -> wall-clock time, float seconds since the epoch */
int util_now(lua_State *L)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return luaL_error(L, "clock_gettime: %s", strerror(errno));
    lua_pushnumber(L, seconds(&ts));
    return 1;
}

/* core.monotonic() -> float seconds of a clock that never goes back */
int util_monotonic(lua_State *L)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return luaL_error(L, "clock_gettime: %s", strerror(errno));
    lua_pushnumber(L, seconds(&ts));
    return 1;
}

/* core.sleep(seconds): sleeps the whole time, even when signals arrive */
int util_sleep(lua_State *L)
{
    lua_Number t = luaL_checknumber(L, 1);
    struct timespec req, rem;
    luaL_argcheck(L, t >= 0 && t <= 86400.0 * 365, 1,
                  "seconds must be between 0 and one year");
    req.tv_sec = (time_t)floor(t);
    req.tv_nsec = (long)((t - floor(t)) * 1e9);
    if (req.tv_nsec > 999999999L)
        req.tv_nsec = 999999999L;
    while (nanosleep(&req, &rem) != 0) {
        if (errno != EINTR)
            return luaL_error(L, "nanosleep: %s", strerror(errno));
        req = rem;
    }
    return 0;
}

/* core.file_mode(path) -> permission bits, owner uid, type ("file",
 * "folder", "fifo" or "other") | nil, message */
int util_file_mode(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, strerror(e));
        return 2;
    }
    lua_pushinteger(L, (lua_Integer)(st.st_mode & 07777));
    lua_pushinteger(L, (lua_Integer)st.st_uid);
    lua_pushstring(L, S_ISREG(st.st_mode)    ? "file"
                      : S_ISDIR(st.st_mode)  ? "folder"
                      : S_ISFIFO(st.st_mode) ? "fifo"
                                             : "other");
    return 3;
}
