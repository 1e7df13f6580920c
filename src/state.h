/*
 * A session's state in and out: the JWT, XSRF token, ids and cookies that
 * the token cache (lua/enphase/account/cache.lua) keeps between processes, and
 * a counter that tells the cache when they changed.
 *
 * Invalid state is `nil, message, "input"`; wrong argument types raise.
 */
#ifndef ENPHASE_STATE_H
#define ENPHASE_STATE_H

#include "compat.h"

/* s:export_state() -> {token=, exp=, xsrf=, cookies={<Netscape cookie
 * lines>}} (absent fields are nil; the JWT read from its record, the ids
 * are the site's facts': not here). */
int state_export(lua_State *L);

/* s:import_state(t) -> true: the JWT (its exp read from it; written to
 * the JWT record), XSRF and cookies of t replace the session's (the ids
 * are not imported: the site's facts own them); cookies for other hosts than
 * base_url's are skipped. Nothing changes when a field is invalid. */
int state_import(lua_State *L);

/* s:generation() -> a counter bumped whenever the JWT, XSRF, ids or
 * cookies changed since the last call. */
int state_generation(lua_State *L);

#endif
