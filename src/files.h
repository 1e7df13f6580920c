/*
 * Private files for the token cache: written atomically with mode 0600,
 * checked before they are read, in folders made with mode 0700.
 *
 * Failures are `nil, message, "input"` (the path is the user's choice);
 * wrong argument types raise. Messages name paths, never a file's content.
 */
#ifndef ENPHASE_FILES_H
#define ENPHASE_FILES_H

#include "compat.h"
#include <stddef.h>

/* The path argument at idx: a non-empty string without NULs (raises
 * otherwise); its length in *len. */
const char *files_check_path(lua_State *L, int idx, size_t *len);

/* store.write_private(path, data) -> true: a temp file in the same folder
 * (mode 0600), written, fsync'd, renamed over path, folder fsync'd. */
int files_write_private(lua_State *L);

/* store.check_private(path) -> true: path's folder is a folder owned by the
 * user and not writable by group or others; path is missing, or a regular
 * file owned by the user with no group or other permission. */
int files_check_private(lua_State *L);

/* store.make_private_dir(dir) -> true: creates the missing folders of dir
 * with mode 0700 (existing ones are left as they are). */
int files_make_private_dir(lua_State *L);

/* store.file_mode(path) -> permission bits, owner uid, type ("file",
 * "folder", "fifo" or "other") | nil, message */
int files_mode(lua_State *L);

#endif
