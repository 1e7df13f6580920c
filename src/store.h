/*
 * Persistence of a session between processes (the token cache): private
 * files written atomically, their safety checks, a file lock, and the
 * session state (JWT, XSRF, ids, cookies) in and out of a session.
 *
 * Failures are `nil, message, "input"` (the path is the user's choice);
 * wrong argument types raise. Messages name paths, never a file's content.
 */
#ifndef ENPHASE_STORE_H
#define ENPHASE_STORE_H

#include "session.h"

#define LOCK_MT "enphase.lock"

/* core.write_private(path, data) -> true: a temp file in the same folder
 * (mode 0600), written, fsync'd, renamed over path, folder fsync'd. */
int store_write_private(lua_State *L);

/* core.check_private(path) -> true: path's folder is a folder owned by the
 * user and not writable by group or others; path is missing, or a regular
 * file owned by the user with no group or other permission. */
int store_check_private(lua_State *L);

/* core.make_private_dir(dir) -> true: creates the missing folders of dir
 * with mode 0700 (existing ones are left as they are). */
int store_make_private_dir(lua_State *L);

/* core.lock(path [, timeout]) -> lock: an exclusive flock on path..".lock"
 * (created 0600), waiting at most timeout seconds (default 30). The lock
 * has :unlock(), __close and __gc (all idempotent). */
int store_lock(lua_State *L);

/* core.sha256(s) -> 64 lower-case hex digits */
int store_sha256(lua_State *L);

/* s:export_state() -> {token=, exp=, xsrf=, site_id=, user_id=,
 * cookies={<Netscape cookie lines>}} (absent fields are nil). */
int store_export_state(lua_State *L);

/* s:import_state(t) -> true: the JWT (its exp read from it), XSRF, ids and
 * cookies of t replace the session's; cookies for other hosts than
 * base_url's are skipped. Nothing changes when a field is invalid. */
int store_import_state(lua_State *L);

/* A counter bumped whenever the JWT, XSRF, ids or cookies changed since the
 * last call (s:info().generation). */
lua_Integer store_generation(session *s);

/* Creates the lock metatable (called once by luaopen_enphase_core). */
void store_register(lua_State *L);

#endif
