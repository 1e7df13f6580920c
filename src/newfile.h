/*
 * Files made anew for results (enphase simulate's --out folder): never
 * written through a symbolic link, only in a folder the user owns.
 */
#ifndef ENPHASE_NEWFILE_H
#define ENPHASE_NEWFILE_H

#include "compat.h"

#define NEWFILE_MT "enphase.newfile"

/* store.own_dir(dir) -> true: dir is a folder (not a symbolic link) owned
 * by this user, made first (mode 0700, parents too) when missing. Failures
 * are nil, message, "input". */
int newfile_own_dir(lua_State *L);

/* store.create(path) -> file: path's folder must pass own_dir's check; an
 * entry already at path (not a folder) is removed, a symbolic link itself
 * and never what it points to; then the file is created with O_CREAT |
 * O_EXCL | O_NOFOLLOW (mode 0644 less the umask). file:write(s, ...) ->
 * file | nil, message; file:close() -> true (idempotent, also __gc and
 * __close). Failures are nil, message, "input". */
int newfile_create(lua_State *L);

/* Creates the file metatable (once, from luaopen_enphase_store). */
void newfile_register(lua_State *L);

#endif
