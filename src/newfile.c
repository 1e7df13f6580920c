/*
 * Files made anew for results (newfile.h): the folder is opened with
 * O_NOFOLLOW and checked by its descriptor, the file created relative to
 * that descriptor with O_EXCL | O_NOFOLLOW, so no symbolic link, planted
 * before or during the run, is ever followed.
 *
 * Every buffer is a Lua string or userdata made before the first system
 * call; descriptors are closed on every path before a failure is pushed.
 */
#define _POSIX_C_SOURCE 200809L

#include "newfile.h"

#include "compat.h"
#include "errors.h"
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct new_file {
    int fd; /* -1: closed */
} new_file;

/* Opens folder dir (no symbolic link) and checks that this user owns it:
 * its descriptor, or -1 with *why set (errno text or "not yours"). */
static int open_own_dir(const char *dir, const char **why)
{
    struct stat st;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        *why = errno == ELOOP || errno == ENOTDIR
                   ? "not a folder (a symbolic link is not followed)"
                   : strerror(errno);
        return -1;
    }
    if (fstat(dfd, &st) != 0 || st.st_uid != geteuid()) {
        close(dfd);
        *why = "a folder another user owns";
        return -1;
    }
    return dfd;
}

int newfile_own_dir(lua_State *L)
{
    size_t n;
    const char *dir = files_check_path(L, 1, &n), *why = NULL;
    int dfd;
    struct stat st;
    lua_settop(L, 1);
    if (lstat(dir, &st) != 0 && errno == ENOENT) {
        /* made as the token cache's folders are: mode 0700, parents too */
        lua_pushcfunction(L, files_make_private_dir);
        lua_pushvalue(L, 1);
        lua_call(L, 1, 3);
        if (!lua_toboolean(L, -3))
            return 3;
        lua_settop(L, 1);
    }
    dfd = open_own_dir(dir, &why);
    if (dfd < 0)
        return push_failure(L, KIND_INPUT, "%s: %s", dir, why);
    close(dfd);
    lua_pushboolean(L, 1);
    return 1;
}

int newfile_create(lua_State *L)
{
    size_t n;
    const char *path = files_check_path(L, 1, &n), *slash, *base, *dir;
    const char *why = NULL;
    new_file *f;
    int dfd, fd, tries;
    struct stat st;

    lua_settop(L, 1);
    slash = strrchr(path, '/');
    if (slash == NULL) {
        lua_pushliteral(L, ".");
        base = path;
    } else {
        lua_pushlstring(L, path, slash == path ? 1 : (size_t)(slash - path));
        base = slash + 1;
    }
    dir = lua_tostring(L, 2);
    if (*base == '\0')
        return push_failure(L, KIND_INPUT, "%s: no file name", path);
    f = lua_newuserdatauv(L, sizeof *f, 0);
    f->fd = -1;
    luaL_setmetatable(L, NEWFILE_MT);
    dfd = open_own_dir(dir, &why);
    if (dfd < 0)
        return push_failure(L, KIND_INPUT, "cannot write %s: %s: %s", path,
                            dir, why);
    for (tries = 0; tries < 2; tries++) {
        fd =
            openat(dfd, base,
                   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0 || errno != EEXIST || tries > 0)
            break;
        /* an older result (or a link planted in its place): removed, the
         * link itself and never its target; a folder is left alone */
        if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISDIR(st.st_mode)) {
            errno = EISDIR;
            break;
        }
        if (unlinkat(dfd, base, 0) != 0 && errno != ENOENT)
            break;
    }
    if (fd < 0) {
        int e = errno;
        close(dfd);
        return push_failure(L, KIND_INPUT, "cannot create %s: %s", path,
                            strerror(e));
    }
    close(dfd);
    f->fd = fd;
    return 1;
}

static int file_close(lua_State *L)
{
    new_file *f = luaL_checkudata(L, 1, NEWFILE_MT);
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int file_write(lua_State *L)
{
    new_file *f = luaL_checkudata(L, 1, NEWFILE_MT);
    int i, top = lua_gettop(L);
    for (i = 2; i <= top; i++) {
        size_t len;
        const char *s = luaL_checklstring(L, i, &len);
        while (len > 0) {
            ssize_t w;
            if (f->fd < 0)
                return push_failure(L, KIND_INPUT, "write to a closed file");
            w = write(f->fd, s, len);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return push_failure(L, KIND_INPUT, "write failed: %s",
                                    strerror(errno));
            s += w;
            len -= (size_t)w;
        }
    }
    lua_settop(L, 1);
    return 1;
}

static int file_tostring(lua_State *L)
{
    new_file *f = luaL_checkudata(L, 1, NEWFILE_MT);
    lua_pushstring(L, f->fd >= 0 ? "enphase.newfile (open)"
                                 : "enphase.newfile (closed)");
    return 1;
}

void newfile_register(lua_State *L)
{
    static const luaL_Reg meta[] = {{"__gc", file_close},
                                    {"__close", file_close},
                                    {"__tostring", file_tostring},
                                    {"__index", NULL},
                                    {NULL, NULL}};
    static const luaL_Reg methods[] = {
        {"write", file_write}, {"close", file_close}, {NULL, NULL}};
    if (luaL_newmetatable(L, NEWFILE_MT)) {
        luaL_setfuncs(L, meta, 0);
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
}
