/*
 * s:request, s:plan, s:send: one call to the battery API with the seed's
 * header set; a battery operation (battery.h) as a plan or sent.
 */
#ifndef ENPHASE_REQUEST_H
#define ENPHASE_REQUEST_H

#include "session.h"

/*
 * Starts the extra headers of a battery API call: content-type, origin,
 * referer, e-auth-token (when a JWT is known), username (when the user id
 * is known; both read from their one home, session.h) and, when full is set,
 * accept and x-xsrf-token (when known). Returns 0, or -1 when out of memory.
 */
int request_api_headers(lua_State *L, session *s, int full);

/* s:request(method, path [, opts]) -> status, body, headers */
int request_call(lua_State *L);

/* s:plan(op [, args]) -> the request of a battery operation (battery.h),
 * as a table, without sending it. */
int request_plan(lua_State *L);

/* s:send(op [, args]) -> status, body, headers, "METHOD path": sends
 * that request. */
int request_send(lua_State *L);

#endif
