/*
 * enphase.precompiled: the library's and the CLI's Lua files as bytecode,
 * built with this module, so that a short-lived `enphase` process does not
 * compile them again at every start (doc/internals.md, "The warm path").
 *
 * precompiled.install() puts one searcher into package.searchers
 * (package.loaders on Lua 5.1), right after the preload searcher. Asked for
 * a name the table holds (src/precompiled.h, written by
 * scripts/precompile.lua), it finds the file that the Lua searcher would
 * load (the first pattern of package.path whose file opens) and serves the
 * bytecode only if that file is, byte for byte, the one the bytecode was
 * built from. Any other file (edited, upgraded, another copy first on the
 * path) or no file at all is left to the Lua searcher, so the bytecode is
 * never staler than the sources it sits beside.
 *
 * The bytecode is as trusted as this module's machine code: both come from
 * the same build and the same file. A Lua that cannot load it (LuaJIT
 * running the module built for PUC Lua 5.1: they share the 5.1 ABI and
 * install folder; another bytecode format) turns the searcher off for that
 * Lua state at the first refusal, and every file is compiled as before.
 */
#include "precompiled.h"

#include "compat.h"
#include <stdio.h>
#include <string.h>

#if defined(_WIN32)
#define ENPHASE_API __declspec(dllexport)
#else
#define ENPHASE_API __attribute__((visibility("default")))
#endif

#if LUA_VERSION_NUM >= 502
#define SEARCHERS "searchers"
#else
#define SEARCHERS "loaders"
#endif

/* The searcher's upvalues: the package table, and true once this Lua has
 * refused the bytecode. */
#define UV_PACKAGE lua_upvalueindex(1)
#define UV_OFF lua_upvalueindex(2)

static const struct precompiled_chunk *chunk_named(const char *name)
{
    size_t i;
    for (i = 0; i < precompiled_chunk_count; i++) {
        if (strcmp(precompiled_chunks[i].name, name) == 0)
            return &precompiled_chunks[i];
    }
    return NULL;
}

/* 1 if what is left to read of f is exactly text[0..len) */
static int same_contents(FILE *f, const unsigned char *text, size_t len)
{
    unsigned char buf[4096];
    size_t at = 0;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        if (n > len - at || memcmp(buf, text + at, n) != 0)
            return 0;
        at += n;
    }
    return !ferror(f) && at == len;
}

/* Pushes the file name made of `pattern` (up to `end`) with every '?'
 * replaced by `modpath`. */
static void push_filename(lua_State *L, const char *pattern, const char *end,
                          const char *modpath)
{
    luaL_Buffer b;
    const char *p;
    luaL_buffinit(L, &b);
    for (p = pattern; p < end; p++) {
        if (*p == '?')
            luaL_addstring(&b, modpath);
        else
            luaL_addchar(&b, *p);
    }
    luaL_pushresult(&b);
}

/* Finds the file the Lua searcher would load for `modpath` on `path` and
 * tells whether it holds exactly chunk's source. Pushes its name when one
 * opens (returns 1 if the same, 0 if not); pushes nothing and returns -1
 * when none does. */
static int find_same_file(lua_State *L, const char *path, const char *modpath,
                          const struct precompiled_chunk *chunk)
{
    const char *start = path;
    while (*start != '\0') {
        const char *end = strchr(start, ';');
        FILE *f;
        if (end == NULL)
            end = start + strlen(start);
        if (end > start) {
            push_filename(L, start, end, modpath);
            f = fopen(lua_tostring(L, -1), "rb");
            if (f != NULL) {
                int same = same_contents(f, chunk->source, chunk->source_len);
                (void)fclose(f); /* read only: nothing to lose */
                return same;
            }
            lua_pop(L, 1);
        }
        start = *end == ';' ? end + 1 : end;
    }
    return -1;
}

/* The searcher: for a name in the table whose file on package.path is the
 * one built, returns the loaded bytecode and the file name (what the Lua
 * searcher returns); otherwise nothing, and the next searcher looks. */
static int precompiled_searcher(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const struct precompiled_chunk *chunk = chunk_named(name);
    const char *path;
    const char *modpath;
    if (chunk == NULL || lua_toboolean(L, UV_OFF) ||
        !lua_istable(L, UV_PACKAGE))
        return 0;
    lua_getfield(L, UV_PACKAGE, "path");
    path = lua_tostring(L, -1);
    if (path == NULL)
        return 0;
    modpath = luaL_gsub(L, name, ".", LUA_DIRSEP);
    if (find_same_file(L, path, modpath, chunk) != 1)
        return 0;
    if (luaL_loadbuffer(L, (const char *)chunk->bytecode, chunk->bytecode_len,
                        name) != LUA_OK) {
        lua_pushboolean(L, 1);
        lua_replace(L, UV_OFF);
        return 0;
    }
    lua_insert(L, -2); /* the loaded chunk, then the file name */
    return 2;
}

/* precompiled.install() -> true, or nil and a message: puts the searcher
 * (its upvalue) right after the preload searcher, once: a second call
 * changes nothing. */
static int precompiled_install(lua_State *L)
{
    int n;
    int i;
    lua_settop(L, 0);
    lua_getglobal(L, "package");
    if (lua_istable(L, 1))
        lua_getfield(L, 1, SEARCHERS);
    if (!lua_istable(L, -1)) {
        lua_pushnil(L);
        lua_pushliteral(L, "no package." SEARCHERS " table");
        return 2;
    }
    n = (int)lua_rawlen(L, 2);
    for (i = 1; i <= n; i++) {
        int same;
        lua_rawgeti(L, 2, i);
        same = lua_rawequal(L, -1, lua_upvalueindex(1));
        lua_pop(L, 1);
        if (same) {
            lua_pushboolean(L, 1);
            return 1;
        }
    }
    for (i = n; i >= 2; i--) {
        lua_rawgeti(L, 2, i);
        lua_rawseti(L, 2, i + 1);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_rawseti(L, 2, n >= 1 ? 2 : 1);
    lua_pushboolean(L, 1);
    return 1;
}

/* precompiled.modules() -> the names the table holds, in its order */
static int precompiled_modules(lua_State *L)
{
    size_t i;
    lua_createtable(L, (int)precompiled_chunk_count, 0);
    for (i = 0; i < precompiled_chunk_count; i++) {
        lua_pushstring(L, precompiled_chunks[i].name);
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

ENPHASE_API int luaopen_enphase_precompiled(lua_State *L);

ENPHASE_API int luaopen_enphase_precompiled(lua_State *L)
{
    lua_newtable(L);
    lua_getglobal(L, "package");
    lua_pushboolean(L, 0);
    lua_pushcclosure(L, precompiled_searcher, 2);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "searcher");
    lua_pushcclosure(L, precompiled_install, 1);
    lua_setfield(L, -2, "install");
    lua_pushcfunction(L, precompiled_modules);
    lua_setfield(L, -2, "modules");
    return 1;
}
