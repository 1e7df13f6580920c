/*
 * Lua 5.1 only (compat.h): lua_pushfstring and luaL_error with the 5.3
 * formats. 5.1's own knows %d %s %f %p %c %% only; here %I (a lua_Integer)
 * and %U (a long as a UTF-8 sequence) are added, the rest keep their 5.1
 * meaning. Other Luas compile this file empty.
 */
#include "compat.h"

#if LUA_VERSION_NUM == 501

#include <stdio.h>
#include <string.h>

/* Pushes code point cp as UTF-8 (at most 6 bytes, as 5.3's %U). */
static void push_utf8(lua_State *L, unsigned long cp)
{
    char out[8];
    int n = 0;
    if (cp < 0x80) {
        out[n++] = (char)cp;
    } else {
        char rev[8];
        int k = 0;
        unsigned long limit = 0x3f; /* what fits in the first byte */
        while (cp > limit) {
            rev[k++] = (char)(0x80 | (cp & 0x3f));
            cp >>= 6;
            limit >>= 1;
        }
        out[n++] = (char)((~limit << 1) | cp);
        while (k > 0)
            out[n++] = rev[--k];
    }
    lua_pushlstring(L, out, (size_t)n);
}

const char *enphase_pushvfstring(lua_State *L, const char *fmt, va_list ap)
{
    int pieces = 0;
    const char *pct;
    luaL_checkstack(L, 4, "lua_pushfstring");
    while ((pct = strchr(fmt, '%')) != NULL) {
        char num[64];
        lua_pushlstring(L, fmt, (size_t)(pct - fmt));
        switch (pct[1]) {
        case 's': {
            const char *str = va_arg(ap, const char *);
            lua_pushstring(L, str != NULL ? str : "(null)");
            break;
        }
        case 'c':
            num[0] = (char)va_arg(ap, int);
            lua_pushlstring(L, num, 1);
            break;
        case 'd':
            lua_pushnumber(L, (lua_Number)va_arg(ap, int));
            lua_tolstring(L, -1, NULL); /* as 5.1 writes it */
            break;
        case 'I':
            snprintf(num, sizeof num, "%lld",
                     (long long)va_arg(ap, lua_Integer));
            lua_pushstring(L, num);
            break;
        case 'f':
            lua_pushnumber(L, (lua_Number)va_arg(ap, double));
            lua_tolstring(L, -1, NULL);
            break;
        case 'p':
            snprintf(num, sizeof num, "%p", va_arg(ap, void *));
            lua_pushstring(L, num);
            break;
        case 'U':
            push_utf8(L, (unsigned long)va_arg(ap, long));
            break;
        case '%':
            lua_pushliteral(L, "%");
            break;
        default: /* as 5.1: the two characters as they are */
            lua_pushlstring(L, pct, pct[1] != '\0' ? 2 : 1);
            break;
        }
        fmt = pct + (pct[1] != '\0' ? 2 : 1);
        lua_concat(L, 2);
        if (++pieces > 1)
            lua_concat(L, 2);
    }
    lua_pushstring(L, fmt);
    if (pieces > 0)
        lua_concat(L, 2);
    return lua_tostring(L, -1);
}

const char *enphase_pushfstring(lua_State *L, const char *fmt, ...)
{
    const char *s;
    va_list ap;
    va_start(ap, fmt);
    s = enphase_pushvfstring(L, fmt, ap);
    va_end(ap);
    return s;
}

int enphase_error(lua_State *L, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    luaL_where(L, 1);
    enphase_pushvfstring(L, fmt, ap);
    va_end(ap);
    lua_concat(L, 2);
    return lua_error(L);
}

#else

typedef int enphase_compat_unused; /* ISO C: no empty file */

#endif
