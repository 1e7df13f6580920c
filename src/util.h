/*
 * Module functions that need no session: clocks, sleep, file modes
 * (util.c) and the parsers and URL encoding (codec.c).
 */
#ifndef ENPHASE_UTIL_H
#define ENPHASE_UTIL_H

#include <lua.h>

int util_now(lua_State *L);
int util_monotonic(lua_State *L);
int util_sleep(lua_State *L);
int util_file_mode(lua_State *L);

int codec_urlencode(lua_State *L);
int codec_jwt_exp(lua_State *L);
int codec_extract_authenticity_token(lua_State *L);
int codec_site_id_from_url(lua_State *L);

#endif
