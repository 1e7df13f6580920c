/*
 * core.urlencode and the Lua faces of the parsers in parse.c.
 */
#include "codec.h"

#include "parse.h"

#include <curl/curl.h>
#include "compat.h"

/* core.urlencode(s) -> s with every byte but A-Z a-z 0-9 - . _ ~ as %XX */
int codec_urlencode(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    char *e;
    luaL_argcheck(L, n <= 0x3fffffff, 1, "string too long");
    e = curl_easy_escape(NULL, s, (int)n);
    if (e == NULL)
        return luaL_error(L, "not enough memory");
    lua_pushstring(L, e);
    curl_free(e);
    return 1;
}

/* core.extract_authenticity_token(html) -> token | nil */
int codec_extract_authenticity_token(lua_State *L)
{
    size_t n, tlen;
    const char *html = luaL_checklstring(L, 1, &n);
    char token[PARSE_TOKEN_MAX + 1];
    tlen = extract_authenticity_token(html, n, token, sizeof token);
    if (tlen == 0)
        lua_pushnil(L);
    else
        lua_pushlstring(L, token, tlen);
    return 1;
}

/* core.site_id_from_url(url) -> site id | nil */
int codec_site_id_from_url(lua_State *L)
{
    size_t n;
    const char *url = luaL_checklstring(L, 1, &n);
    int64_t id = 0;
    if (site_id_from_url(url, n, &id) && id <= ENPHASE_ID_MAX)
        lua_pushinteger(L, (lua_Integer)id);
    else
        lua_pushnil(L);
    return 1;
}
