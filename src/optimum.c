/*
 * enphase.optimum: the perfect-foresight optimum of a house battery for
 * the policy lab (lua/enphase/lab/optimum.lua builds the steps from the
 * house's series; doc/optimum.md describes the method). The DP is in
 * soc_dp.c; this file reads the Lua tables and returns the plan. No
 * libcurl, no state: one function.
 */
#include "compat.h"
#include "soc_dp.h"

#include <string.h>

#if defined(_WIN32)
#define ENPHASE_API __declspec(dllexport)
#else
#define ENPHASE_API __attribute__((visibility("default")))
#endif

/* Reads field `name` of the table at 1 as a number into *out (`fallback`
 * when absent); 0, or -1 with a message pushed. */
static int field_number(lua_State *L, const char *name, double fallback,
                        double *out)
{
    int type = lua_getfield(L, 1, name);
    int ok = 1;
    if (type == LUA_TNIL)
        *out = fallback;
    else
        *out = (double)lua_tonumberx(L, -1, &ok);
    lua_pop(L, 1);
    if (!ok) {
        lua_pushfstring(L, "%s must be a number", name);
        return -1;
    }
    return 0;
}

/* The length of array field `name` of the table at 1, or -1 (pushed a
 * message) when it is not a table. */
static lua_Integer array_length(lua_State *L, const char *name)
{
    lua_Integer n = -1;
    if (lua_getfield(L, 1, name) == LUA_TTABLE)
        n = (lua_Integer)lua_rawlen(L, -1);
    lua_pop(L, 1);
    if (n < 0)
        lua_pushfstring(L, "%s must be an array of numbers", name);
    return n;
}

/* Copies array `name` (n numbers) into steps[].<offset>; 0 or -1 with a
 * message pushed. */
static int read_column(lua_State *L, const char *name, struct dp_step *steps,
                       size_t n, size_t offset)
{
    lua_getfield(L, 1, name);
    for (size_t i = 0; i < n; i++) {
        int ok = 0;
        lua_rawgeti(L, -1, (lua_Integer)i + 1);
        double v = (double)lua_tonumberx(L, -1, &ok);
        lua_pop(L, 1);
        if (!ok) {
            lua_pop(L, 1);
            lua_pushfstring(L, "%s[%d] must be a number", name, (int)(i + 1));
            return -1;
        }
        memcpy((char *)&steps[i] + offset, &v, sizeof v);
    }
    lua_pop(L, 1);
    return 0;
}

static const struct {
    const char *name;
    size_t offset;
} COLUMNS[] = {
    {"hours", offsetof(struct dp_step, hours)},
    {"load_kw", offsetof(struct dp_step, load_kw)},
    {"pv_kw", offsetof(struct dp_step, pv_kw)},
    {"import", offsetof(struct dp_step, import_price)},
    {"export", offsetof(struct dp_step, export_price)},
};

#define NCOLUMNS (sizeof COLUMNS / sizeof COLUMNS[0])

static int read_battery(lua_State *L, struct dp_battery *b)
{
    double grid = 0;
    if (field_number(L, "capacity_kwh", 0, &b->capacity_kwh) != 0 ||
        field_number(L, "max_charge_kw", 0, &b->max_charge_kw) != 0 ||
        field_number(L, "max_discharge_kw", 0, &b->max_discharge_kw) != 0 ||
        field_number(L, "efficiency", 1, &b->efficiency) != 0 ||
        field_number(L, "initial_kwh", 0, &b->initial_kwh) != 0 ||
        field_number(L, "min_kwh", 0, &b->min_kwh) != 0 ||
        field_number(L, "grid", 0, &grid) != 0)
        return -1;
    if (!(grid >= 0 && grid <= 4000) || grid != (double)(int)grid) {
        lua_pushliteral(L, "grid must be an integer 0..4000");
        return -1;
    }
    b->grid = (int)grid;
    return 0;
}

/* Sets t[name] = array of one field of the moves (the table on top). */
static void push_column(lua_State *L, const struct dp_move *moves, size_t n,
                        const char *name, size_t offset)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        double v;
        memcpy(&v, (const char *)&moves[i] + offset, sizeof v);
        lua_pushnumber(L, (lua_Number)v);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, name);
}

static const struct {
    const char *name;
    size_t offset;
} MOVES[] = {
    {"energy_kwh", offsetof(struct dp_move, energy_kwh)},
    {"charge_kwh", offsetof(struct dp_move, charge_kwh)},
    {"discharge_kwh", offsetof(struct dp_move, discharge_kwh)},
    {"import_kwh", offsetof(struct dp_move, import_kwh)},
    {"export_kwh", offsetof(struct dp_move, export_kwh)},
    {"cost", offsetof(struct dp_move, cost)},
};

/*
 * optimum.solve{hours=, load_kw=, pv_kw=, import=, export= (arrays, one
 * entry per step), capacity_kwh=, max_charge_kw=, max_discharge_kw=,
 * efficiency=, initial_kwh=, min_kwh=, grid= (0: automatic)}
 * -> {cost=, lower_bound=, grid_kwh=, states=, steps={energy_kwh=,
 *     charge_kwh=, discharge_kwh=, import_kwh=, export_kwh=, cost=}}
 * or nil and a message.
 */
static int optimum_solve(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TTABLE) {
        luaL_pushfail(L);
        lua_pushliteral(L, "optimum.solve wants a table");
        return 2;
    }
    lua_settop(L, 1);
    lua_Integer n = array_length(L, "hours");
    for (size_t c = 1; n >= 0 && c < NCOLUMNS; c++) {
        lua_Integer m = array_length(L, COLUMNS[c].name);
        if (m >= 0 && m != n) {
            lua_pushfstring(L, "%s has %d entries, hours %d", COLUMNS[c].name,
                            (int)m, (int)n);
            m = -1;
        }
        if (m < 0)
            n = -1;
    }
    if (n == 0) {
        lua_pushliteral(L, "no steps");
        n = -1;
    }
    struct dp_battery battery;
    if (n < 0 || read_battery(L, &battery) != 0) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    /* a userdata: the Lua GC frees it whatever happens next */
    struct dp_step *steps = lua_newuserdatauv(L, (size_t)n * sizeof *steps, 0);
    for (size_t c = 0; c < NCOLUMNS; c++) {
        if (read_column(L, COLUMNS[c].name, steps, (size_t)n,
                        COLUMNS[c].offset) != 0) {
            luaL_pushfail(L);
            lua_insert(L, -2);
            return 2;
        }
    }
    /* made before the solve: nothing raises between it and the copy */
    struct dp_move *moves = lua_newuserdatauv(L, (size_t)n * sizeof *moves, 0);
    struct dp_result r;
    const char *why = NULL;
    if (dp_solve(steps, (size_t)n, &battery, &r, &why) != 0) {
        luaL_pushfail(L);
        lua_pushstring(L, why);
        return 2;
    }
    memcpy(moves, r.moves, (size_t)n * sizeof *moves);
    dp_free(&r);
    lua_createtable(L, 0, 5);
    lua_pushnumber(L, (lua_Number)r.cost);
    lua_setfield(L, -2, "cost");
    lua_pushnumber(L, (lua_Number)r.lower_bound);
    lua_setfield(L, -2, "lower_bound");
    lua_pushnumber(L, (lua_Number)r.grid_kwh);
    lua_setfield(L, -2, "grid_kwh");
    lua_pushinteger(L, (lua_Integer)r.states);
    lua_setfield(L, -2, "states");
    lua_createtable(L, 0, (int)(sizeof MOVES / sizeof MOVES[0]));
    for (size_t c = 0; c < sizeof MOVES / sizeof MOVES[0]; c++)
        push_column(L, moves, (size_t)n, MOVES[c].name, MOVES[c].offset);
    lua_setfield(L, -2, "steps");
    return 1;
}

static const luaL_Reg functions[] = {{"solve", optimum_solve}, {NULL, NULL}};

ENPHASE_API int luaopen_enphase_optimum(lua_State *L);

ENPHASE_API int luaopen_enphase_optimum(lua_State *L)
{
    luaL_newlib(L, functions);
    return 1;
}
