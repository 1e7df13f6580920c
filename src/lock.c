/*
 * The token cache's file lock (lock.h): an exclusive flock on a file of
 * its own, waited for with short naps up to a deadline.
 */
#define _DEFAULT_SOURCE /* flock */
#define _POSIX_C_SOURCE 200809L

#include "lock.h"

#include "clock.h"
#include "compat.h"
#include "errors.h"
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct file_lock {
    int fd; /* -1: released */
} file_lock;

/* The monotonic clock (CLOCK_MONOTONIC cannot fail where clock_gettime
 * exists; 0 if it did). */
static double now(void)
{
    double t = 0;
    (void)clock_monotonic(&t);
    return t;
}

static int lock_release(lua_State *L)
{
    file_lock *lk = luaL_checkudata(L, 1, LOCK_MT);
    if (lk->fd >= 0) {
        close(lk->fd); /* releases the flock */
        lk->fd = -1;
    }
    return 0;
}

static int lock_tostring(lua_State *L)
{
    file_lock *lk = luaL_checkudata(L, 1, LOCK_MT);
    lua_pushstring(L, lk->fd >= 0 ? "enphase.lock (held)"
                                  : "enphase.lock (released)");
    return 1;
}

int lock_acquire(lua_State *L)
{
    size_t plen;
    const char *path = files_check_path(L, 1, &plen), *lpath;
    lua_Number timeout = luaL_optnumber(L, 2, 30);
    double deadline, wait = 0.001;
    struct stat st;
    file_lock *lk;
    int err;

    luaL_argcheck(L, timeout >= 0 && timeout <= 86400, 2,
                  "timeout must be between 0 and 86400 seconds");
    lua_settop(L, 2);
    lk = lua_newuserdatauv(L, sizeof *lk, 0); /* at 3 */
    lk->fd = -1;
    luaL_setmetatable(L, LOCK_MT);
    lpath = lua_pushfstring(L, "%s.lock", path);
    lk->fd = open(lpath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                  S_IRUSR | S_IWUSR);
    if (lk->fd < 0)
        return push_failure(L, KIND_INPUT, "%s: %s", lpath, strerror(errno));
    if (fstat(lk->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(lk->fd);
        lk->fd = -1;
        return push_failure(L, KIND_INPUT, "%s is not a regular file", lpath);
    }
    deadline = now() + (double)timeout;
    while (flock(lk->fd, LOCK_EX | LOCK_NB) != 0) {
        double left;
        err = errno;
        if (err == EINTR)
            continue;
        left = deadline - now();
        if (err != EWOULDBLOCK || left <= 0) {
            close(lk->fd);
            lk->fd = -1;
            if (err != EWOULDBLOCK)
                return push_failure(L, KIND_INPUT, "%s: %s", lpath,
                                    strerror(err));
            return push_failure(
                L, KIND_INPUT,
                "%s: still locked after %f s (another process or "
                "client holds it)",
                lpath, (double)timeout);
        }
        (void)clock_sleep(wait < left ? wait : left);
        if (wait < 0.05)
            wait *= 2;
    }
    lua_pushvalue(L, 3);
    return 1;
}

void lock_register(lua_State *L)
{
    static const luaL_Reg meta[] = {{"__gc", lock_release},
                                    {"__close", lock_release},
                                    {"__tostring", lock_tostring},
                                    {"__index", NULL},
                                    {NULL, NULL}};
    static const luaL_Reg methods[] = {{"unlock", lock_release}, {NULL, NULL}};
    if (luaL_newmetatable(L, LOCK_MT)) {
        luaL_setfuncs(L, meta, 0);
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
}
