/*
 * Private files (files.h): written atomically with mode 0600, checked
 * before they are read, in folders made with mode 0700.
 *
 * Every buffer a function needs is a Lua userdata or string made before
 * the first system call, so a Lua error can leak nothing; file descriptors
 * are closed (and a temporary file removed) on every path before a failure
 * is pushed.
 */
#define _POSIX_C_SOURCE 200809L

#include "files.h"

#include "compat.h"
#include "errors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *files_check_path(lua_State *L, int idx, size_t *len)
{
    const char *p = luaL_checklstring(L, idx, len);
    luaL_argcheck(L, *len > 0 && strlen(p) == *len, idx,
                  "a non-empty path without NUL bytes expected");
    return p;
}

/* Pushes the folder of path ("." when it has no '/') and returns it; *base
 * points at the file name inside path. */
static const char *push_dir(lua_State *L, const char *path, size_t n,
                            const char **base)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        *base = path;
        lua_pushliteral(L, ".");
    } else {
        *base = slash + 1;
        lua_pushlstring(L, path, slash == path ? 1 : (size_t)(slash - path));
    }
    (void)n;
    return lua_tostring(L, -1);
}

static const char *octal(char *buf, size_t cap, mode_t mode)
{
    (void)snprintf(buf, cap, "%03o", (unsigned)(mode & 07777)); /* fits */
    return buf;
}

/* ------------------------------------------------------------------ */
/* Private files                                                       */
/* ------------------------------------------------------------------ */

/* Best effort: makes a rename in dir durable. Some file systems refuse
 * fsync on a folder; the data itself is already on disk then. */
static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int files_write_private(lua_State *L)
{
    size_t plen, n, off = 0, tcap;
    const char *path = files_check_path(L, 1, &plen);
    const char *data = luaL_checklstring(L, 2, &n);
    const char *dir, *base, *step = NULL;
    char *tmp;
    int fd = -1, err = 0, created = 0;

    lua_settop(L, 2);
    dir = push_dir(L, path, plen, &base);
    if (*base == '\0')
        return push_failure(L, KIND_INPUT, "%s: not a file name (ends with /)",
                            path);
    tcap = strlen(dir) + strlen(base) + sizeof "/..XXXXXX";
    tmp = lua_newuserdatauv(L, tcap, 0);
    (void)snprintf(tmp, tcap, "%s/.%s.XXXXXX", dir, base); /* sized above */

    /* No Lua call from here to done: fd and the temporary file are only
     * released there. */
    fd = mkstemp(tmp);
    if (fd < 0) {
        err = errno;
        step = "cannot create a temporary file in its folder";
        goto done;
    }
    created = 1;
    if (fchmod(fd, S_IRUSR | S_IWUSR) != 0) {
        err = errno;
        step = "chmod 600";
        goto done;
    }
    while (off < n) {
        ssize_t w = write(fd, data + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            err = w < 0 ? errno : EIO;
            step = "write";
            goto done;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        err = errno;
        step = "fsync";
        goto done;
    }
    if (close(fd) != 0) {
        fd = -1;
        err = errno;
        step = "close";
        goto done;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        err = errno;
        step = "rename";
        goto done;
    }
    sync_dir(dir);

done:
    if (fd >= 0)
        close(fd);
    if (step != NULL) {
        if (created)
            unlink(tmp);
        return push_failure(L, KIND_INPUT, "%s: %s: %s", path, step,
                            strerror(err));
    }
    lua_pushboolean(L, 1);
    return 1;
}

int files_check_private(lua_State *L)
{
    size_t plen;
    const char *path = files_check_path(L, 1, &plen);
    const char *dir, *base;
    struct stat st;
    char m[16];
    uid_t me = geteuid();

    lua_settop(L, 1);
    dir = push_dir(L, path, plen, &base);
    if (*base == '\0')
        return push_failure(L, KIND_INPUT, "%s: not a file name (ends with /)",
                            path);
    if (stat(dir, &st) != 0)
        return push_failure(L, KIND_INPUT, "folder %s: %s", dir,
                            strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return push_failure(L, KIND_INPUT, "%s is not a folder", dir);
    if (st.st_uid != me)
        return push_failure(L, KIND_INPUT,
                            "folder %s belongs to another user (uid %I)", dir,
                            (lua_Integer)st.st_uid);
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return push_failure(
            L, KIND_INPUT,
            "folder %s is writable by group or others (mode %s): "
            "run chmod go-w %s",
            dir, octal(m, sizeof m, st.st_mode), dir);
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            goto ok;
        return push_failure(L, KIND_INPUT, "%s: %s", path, strerror(errno));
    }
    if (S_ISLNK(st.st_mode))
        return push_failure(L, KIND_INPUT,
                            "%s is a symbolic link (a private regular file "
                            "expected)",
                            path);
    if (!S_ISREG(st.st_mode))
        return push_failure(L, KIND_INPUT, "%s is not a regular file", path);
    if (st.st_uid != me)
        return push_failure(L, KIND_INPUT,
                            "%s belongs to another user (uid %I)", path,
                            (lua_Integer)st.st_uid);
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
        return push_failure(
            L, KIND_INPUT,
            "%s is open to group or others (mode %s): it holds "
            "session secrets; run chmod 600 %s",
            path, octal(m, sizeof m, st.st_mode), path);
ok:
    lua_pushboolean(L, 1);
    return 1;
}

int files_make_private_dir(lua_State *L)
{
    size_t n, i;
    const char *dir = files_check_path(L, 1, &n);
    char *p;

    lua_settop(L, 1);
    p = lua_newuserdatauv(L, n + 1, 0);
    memcpy(p, dir, n + 1);
    for (i = 1; i <= n; i++) {
        if (i < n && p[i] != '/')
            continue;
        if (i < n)
            p[i] = '\0';
        if (p[i - 1] != '/' && mkdir(p, S_IRWXU) != 0 && errno != EEXIST)
            return push_failure(L, KIND_INPUT, "cannot create folder %s: %s",
                                p, strerror(errno));
        if (i < n)
            p[i] = '/';
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* store.file_mode(path) -> permission bits, owner uid, type ("file",
 * "folder", "fifo" or "other") | nil, message */
int files_mode(lua_State *L)
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
