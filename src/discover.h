/*
 * The discovery of the site and user ids and the XSRF token: the seed's
 * discover_ids and get_xsrf.
 */
#ifndef ENPHASE_DISCOVER_H
#define ENPHASE_DISCOVER_H

#include "compat.h"

/* Methods s:discover_site(), s:discover_user(), s:fetch_xsrf(). */
int discover_site(lua_State *L);
int discover_user(lua_State *L);
int discover_xsrf(lua_State *L);

#endif
