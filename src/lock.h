/*
 * The token cache's file lock, shared by every process and client that
 * uses one cache file.
 */
#ifndef ENPHASE_LOCK_H
#define ENPHASE_LOCK_H

#include "compat.h"

#define LOCK_MT "enphase.lock"

/* store.lock(path [, timeout]) -> lock: an exclusive flock on path..".lock"
 * (created 0600), waiting at most timeout seconds (default 30). The lock
 * has :unlock(), __close and __gc (all idempotent). Failures are
 * nil, message, "input". */
int lock_acquire(lua_State *L);

/* Creates the lock metatable (once, from luaopen_enphase_store). */
void lock_register(lua_State *L);

#endif
