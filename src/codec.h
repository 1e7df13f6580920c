/*
 * core.urlencode and the Lua faces of the parsers in parse.c.
 */
#ifndef ENPHASE_CODEC_H
#define ENPHASE_CODEC_H

#include "compat.h"

/* core.urlencode(s) -> s with every byte but A-Z a-z 0-9 - . _ ~ as %XX */
int codec_urlencode(lua_State *L);

/* core.extract_authenticity_token(html) -> token | nil */
int codec_extract_authenticity_token(lua_State *L);

/* core.site_id_from_url(url) -> site id | nil */
int codec_site_id_from_url(lua_State *L);

#endif
