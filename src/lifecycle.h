/*
 * A session's life: created from the options table, with its libcurl easy
 * handle set up for the request path (http.h); closed once, whichever of
 * close, __gc and __close comes first.
 */
#ifndef ENPHASE_LIFECYCLE_H
#define ENPHASE_LIFECYCLE_H

#include "compat.h"

/* core.new(options) -> session. Wrong options raise (luaL_argerror). */
int lifecycle_new(lua_State *L);

/* s:close(), also __gc and __close: frees everything; idempotent. */
int lifecycle_close(lua_State *L);

#endif
