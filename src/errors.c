/*
 * Failures returned to Lua as values: nil, message, kind.
 */
#include "errors.h"

#include "compat.h"
#include <stdarg.h>

int push_failure(lua_State *L, const char *kind, const char *fmt, ...)
{
    va_list ap;
    luaL_checkstack(L, 3, "push_failure");
    lua_pushnil(L);
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    lua_pushstring(L, kind);
    return 3;
}
