/*
 * s:request: one call to the battery API with the seed's header set.
 */
#ifndef ENPHASE_REQUEST_H
#define ENPHASE_REQUEST_H

#include "session.h"

/*
 * Starts the extra headers of a battery API call: content-type, origin,
 * referer, e-auth-token (when a JWT is known), username (when the user id
 * is known) and, when full is set, accept and x-xsrf-token (when known).
 * Returns 0, or -1 when out of memory.
 */
int request_api_headers(session *s, int full);

/* s:request(method, path [, opts]) -> status, body, headers */
int request_call(lua_State *L);

#endif
