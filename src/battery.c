/*
 * The battery operations of battery.h: one builder per operation, all of
 * the wire format (paths, queries, JSON bodies) in this file.
 */
#define _POSIX_C_SOURCE 200809L

#include "battery.h"

#include "json_writer.h"

#include "compat.h"
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The value a plan shows for a body field the caller left out. */
#define PLACEHOLDER "<current>"

typedef struct builder {
    lua_State *L;
    const session *s;
    int args; /* absolute index of the arguments table, 0: none */
    int plan;
    battery_request *rq;
    json_writer w;
} builder;

typedef void (*build_fn)(builder *b);

typedef struct operation {
    const char *name;
    const char *method;
    const char *const *args; /* the arguments it takes, NULL-terminated */
    build_fn build;
} operation;

/* ------------------------------------------------------------------ */
/* Arguments                                                           */
/* ------------------------------------------------------------------ */

static int arg_error(builder *b, const char *name, const char *what)
{
    lua_State *L = b->L;
    return luaL_error(L, "%s: argument %s: %s", b->rq->op, name, what);
}

/* Pushes args[name] (nil without arguments) and returns its type. */
static int arg_push(builder *b, const char *name)
{
    if (b->args == 0) {
        lua_pushnil(b->L);
        return LUA_TNIL;
    }
    return lua_getfield(b->L, b->args, name);
}

/* args[name] as a string of min..max bytes, or NULL when absent. The
 * string stays referenced by the arguments table; it is used before the
 * builder returns. */
static const char *arg_text(builder *b, const char *name, size_t min,
                            size_t max, size_t *len)
{
    int t = arg_push(b, name);
    const char *v = NULL;
    if (t != LUA_TNIL) {
        if (t != LUA_TSTRING)
            arg_error(b, name, "string expected");
        v = lua_tolstring(b->L, -1, len);
        if (*len < min || *len > max)
            arg_error(b, name,
                      lua_pushfstring(b->L, "%d to %d bytes expected",
                                      (int)min, (int)max));
    }
    lua_pop(b->L, 1);
    return v;
}

static const char *arg_string(builder *b, const char *name, size_t max,
                              size_t *len)
{
    return arg_text(b, name, 1, max, len);
}

/* args[name] as an integer in [lo, hi]; returns 0 when absent. */
static int arg_integer(builder *b, const char *name, lua_Integer lo,
                       lua_Integer hi, lua_Integer *out)
{
    int t = arg_push(b, name), isint = 0;
    if (t != LUA_TNIL) {
        *out = lua_tointegerx(b->L, -1, &isint);
        if (t != LUA_TNUMBER || !isint)
            arg_error(b, name, "integer expected");
        if (*out < lo || *out > hi)
            arg_error(b, name,
                      lua_pushfstring(b->L, "from %I to %I expected", lo, hi));
    }
    lua_pop(b->L, 1);
    return t != LUA_TNIL;
}

/* args[name] as a boolean: 1 or 0, -1 when absent. */
static int arg_boolean(builder *b, const char *name)
{
    int t = arg_push(b, name), v = -1;
    if (t != LUA_TNIL) {
        if (t != LUA_TBOOLEAN)
            arg_error(b, name, "boolean expected");
        v = lua_toboolean(b->L, -1);
    }
    lua_pop(b->L, 1);
    return v;
}

/* Raises for an argument the operation does not take. */
static void check_names(builder *b, const char *const *allowed)
{
    lua_State *L = b->L;
    if (b->args == 0)
        return;
    lua_pushnil(L);
    while (lua_next(L, b->args) != 0) {
        const char *const *a = allowed;
        const char *key;
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: argument names must be strings", b->rq->op);
        key = lua_tostring(L, -1);
        while (a != NULL && *a != NULL && strcmp(*a, key) != 0)
            a++;
        if (a == NULL || *a == NULL)
            arg_error(b, key, "unknown argument");
    }
}

/* ------------------------------------------------------------------ */
/* Paths and queries                                                   */
/* ------------------------------------------------------------------ */

/* An id as text: the digits, a placeholder in a plan, else a raise. */
static void id_text(builder *b, lua_Integer id, const char *name,
                    const char *placeholder, char *out, size_t size)
{
    if (id > 0)
        (void)snprintf(out, size, "%lld", (long long)id);
    else if (b->plan)
        (void)snprintf(out, size, "%s", placeholder);
    else
        luaL_error(b->L,
                   "%s: the %s is not known yet (discover it, or give it "
                   "to the site's facts, first)",
                   b->rq->op, name);
}

static void site_text(builder *b, char *out, size_t size)
{
    lua_Integer site = 0;
    session_ids(b->L, b->s, &site, NULL);
    id_text(b, site, "site id", "<site>", out, size);
}

static void user_text(builder *b, char *out, size_t size)
{
    lua_Integer user = 0;
    session_ids(b->L, b->s, NULL, &user);
    id_text(b, user, "user id", "<user>", out, size);
}

/* The schedule id argument: letters, digits and dashes as the server
 * gives them; "<id>" when a plan has none. */
static void schedule_id_text(builder *b, char *out, size_t size)
{
    size_t n = 0, i;
    const char *id = arg_string(b, "id", 64, &n);
    if (id == NULL) {
        if (!b->plan)
            arg_error(b, "id", "required");
        (void)snprintf(out, size, "<id>");
        return;
    }
    for (i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z') || c == '-'))
            arg_error(b, "id", "letters, digits and dashes expected");
    }
    (void)snprintf(out, size, "%s", id);
}

/* Formats rq->path (or rq->query with set_query); raises when it does
 * not fit. */
static void set_text(builder *b, char *dst, size_t size, const char *fmt,
                     const char *a, const char *c)
{
    int n = snprintf(dst, size, fmt, BATTERY_API, a, c);
    if (n < 0 || (size_t)n >= size)
        luaL_error(b->L, "%s: path too long", b->rq->op);
}

static void site_path(builder *b, const char *fmt)
{
    char site[32];
    site_text(b, site, sizeof site);
    set_text(b, b->rq->path, sizeof b->rq->path, fmt, site, "");
}

/* ?userId=<user>&source=<source>, or ?source=..&userId=.. when
 * source_first (the profile read's order, as the web UI sends it). */
static void user_query(builder *b, const char *source, int source_first)
{
    char user[32];
    int n;
    user_text(b, user, sizeof user);
    if (source == NULL)
        n = snprintf(b->rq->query, sizeof b->rq->query, "userId=%s", user);
    else if (source_first)
        n = snprintf(b->rq->query, sizeof b->rq->query, "source=%s&userId=%s",
                     source, user);
    else
        n = snprintf(b->rq->query, sizeof b->rq->query, "userId=%s&source=%s",
                     user, source);
    if (n < 0 || (size_t)n >= sizeof b->rq->query)
        luaL_error(b->L, "%s: query too long", b->rq->op);
}

/* ------------------------------------------------------------------ */
/* Bodies                                                              */
/* ------------------------------------------------------------------ */

static void body_begin(builder *b)
{
    json_writer_init(&b->w, b->rq->body, sizeof b->rq->body);
    json_writer_begin_object(&b->w);
}

static void body_end(builder *b)
{
    size_t n;
    json_writer_end_object(&b->w);
    n = json_writer_finish(&b->w);
    if (n == (size_t)-1)
        luaL_error(b->L, "%s: the body does not fit in %d bytes", b->rq->op,
                   BATTERY_BODY_MAX);
    b->rq->body_len = n;
    b->rq->has_body = 1;
}

static void empty_body(builder *b)
{
    body_begin(b);
    body_end(b);
}

static void put_placeholder(builder *b, const char *name)
{
    if (!b->plan)
        arg_error(b, name, "required");
    json_writer_string(&b->w, PLACEHOLDER, sizeof PLACEHOLDER - 1);
}

/* key: args[name] as a string; a plan shows a placeholder when absent. */
static void field_string(builder *b, const char *key, const char *name,
                         size_t max)
{
    size_t n = 0;
    const char *v = arg_string(b, name, max, &n);
    json_writer_key(&b->w, key);
    if (v == NULL)
        put_placeholder(b, name);
    else
        json_writer_string(&b->w, v, n);
}

static void field_integer(builder *b, const char *key, const char *name,
                          lua_Integer lo, lua_Integer hi)
{
    lua_Integer v = 0;
    int present = arg_integer(b, name, lo, hi, &v);
    json_writer_key(&b->w, key);
    if (!present)
        put_placeholder(b, name);
    else
        json_writer_integer(&b->w, (long long)v);
}

/* key: args[name], a list of 1 to 7 days, each an integer 1..7. */
static void field_days(builder *b, const char *key, const char *name)
{
    lua_State *L = b->L;
    lua_Integer i, n;
    int t = arg_push(b, name);
    json_writer_key(&b->w, key);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        put_placeholder(b, name);
        return;
    }
    if (t != LUA_TTABLE)
        arg_error(b, name, "a list of days expected");
    n = (lua_Integer)lua_rawlen(L, -1);
    if (n < 1 || n > 7)
        arg_error(b, name, "1 to 7 days expected");
    json_writer_begin_array(&b->w);
    for (i = 1; i <= n; i++) {
        int isint = 0;
        lua_Integer d;
        lua_rawgeti(L, -1, i);
        d = lua_tointegerx(L, -1, &isint);
        if (lua_type(L, -1) != LUA_TNUMBER || !isint || d < 1 || d > 7)
            arg_error(b, name, "days 1 to 7 expected");
        lua_pop(L, 1);
        json_writer_integer(&b->w, (long long)d);
    }
    json_writer_end_array(&b->w);
    lua_pop(L, 1);
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" of args.accepted_itc_at (seconds since the
 * epoch), the ITC disclaimer's format. */
static void field_itc_stamp(builder *b)
{
    lua_State *L = b->L;
    char stamp[32];
    struct tm tm;
    time_t whole;
    double t, ms;
    int type = arg_push(b, "accepted_itc_at");
    if (type == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    t = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (type != LUA_TNUMBER || !(t >= 0 && t < 253402300800.0))
        arg_error(b, "accepted_itc_at", "seconds since the epoch expected");
    whole = (time_t)floor(t);
    ms = floor((t - floor(t)) * 1000.0 + 0.5);
    if (gmtime_r(&whole, &tm) == NULL ||
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        arg_error(b, "accepted_itc_at", "not a representable time");
    (void)snprintf(stamp + strlen(stamp), sizeof stamp - strlen(stamp),
                   ".%03dZ", (int)(ms > 999 ? 999 : ms));
    json_writer_key(&b->w, "acceptedItcDisclaimer");
    json_writer_string(&b->w, stamp, strlen(stamp));
}

/* "name": {"enabled": args[arg]} when given; returns whether it was. */
static int field_control(builder *b, const char *key, const char *name)
{
    int v = arg_boolean(b, name);
    if (v < 0)
        return 0;
    json_writer_key(&b->w, key);
    json_writer_begin_object(&b->w);
    json_writer_key(&b->w, "enabled");
    json_writer_boolean(&b->w, v);
    json_writer_end_object(&b->w);
    return 1;
}

/* ------------------------------------------------------------------ */
/* The operations                                                      */
/* ------------------------------------------------------------------ */

#define SETTINGS_PATH "%s/batterySettings/%s%s"
#define SCHEDULES_PATH "%s/battery/sites/%s/schedules%s"

/* POST isValid {"scheduleType":"cfg","forceScheduleOpted":true} (cfg),
 * {"scheduleType":"dtg"}, {"scheduleType":"rbd"}. */
static void build_validate(builder *b)
{
    size_t n = 0;
    const char *mode = arg_string(b, "mode", 3, &n);
    int cfg = mode != NULL && strcmp(mode, "cfg") == 0;
    if (mode == NULL ||
        !(cfg || strcmp(mode, "dtg") == 0 || strcmp(mode, "rbd") == 0)) {
        arg_error(b, "mode", "one of cfg, dtg, rbd expected");
        return;
    }
    site_path(b, SCHEDULES_PATH "/isValid");
    body_begin(b);
    json_writer_key(&b->w, "scheduleType");
    json_writer_string(&b->w, mode, n);
    if (cfg) {
        json_writer_key(&b->w, "forceScheduleOpted");
        json_writer_boolean(&b->w, 1);
    }
    body_end(b);
}

static void build_settings_get(builder *b)
{
    site_path(b, SETTINGS_PATH);
    user_query(b, "enlm", 0);
}

/* A partial body: only the fields given, at least one. */
static void build_settings_put(builder *b)
{
    int cfg, fields = 0;
    lua_Integer low = 0;
    site_path(b, SETTINGS_PATH);
    user_query(b, "enho", 0);
    body_begin(b);
    cfg = arg_boolean(b, "charge_from_grid");
    if (cfg >= 0) {
        json_writer_key(&b->w, "chargeFromGrid");
        json_writer_boolean(&b->w, cfg);
        fields++;
    }
    field_itc_stamp(b);
    fields += field_control(b, "dtgControl", "discharge_to_grid");
    fields += field_control(b, "rbdControl", "restrict_discharge");
    if (arg_integer(b, "very_low_soc", 0, 100, &low)) {
        json_writer_key(&b->w, "veryLowSoc");
        json_writer_integer(&b->w, (long long)low);
        fields++;
    }
    if (fields == 0)
        luaL_error(b->L,
                   "settings_put: give at least one of charge_from_grid, "
                   "discharge_to_grid, restrict_discharge, very_low_soc");
    body_end(b);
}

static void build_site_settings(builder *b)
{
    site_path(b, "%s/siteSettings/%s%s");
    user_query(b, NULL, 0);
}

static void build_profile_get(builder *b)
{
    site_path(b, "%s/profile/%s%s");
    user_query(b, "enho", 1);
}

/* The profiles whose writes carry operationModeSubType. */
static int has_subtype(const char *profile)
{
    return strcmp(profile, "cost_savings") == 0 ||
           strcmp(profile, "ai_optimisation") == 0;
}

static void build_profile_put(builder *b)
{
    size_t n = 0;
    const char *profile = arg_string(b, "profile", 32, &n);
    site_path(b, "%s/profile/%s%s");
    user_query(b, NULL, 0);
    body_begin(b);
    json_writer_key(&b->w, "profile");
    if (profile == NULL)
        put_placeholder(b, "profile");
    else
        json_writer_string(&b->w, profile, n);
    field_integer(b, "batteryBackupPercentage", "reserve", 0, 100);
    if (profile != NULL && has_subtype(profile)) {
        json_writer_key(&b->w, "operationModeSubType");
        json_writer_string(&b->w, "prioritize-energy", 17);
    }
    body_end(b);
}

static void build_profile_cancel(builder *b)
{
    site_path(b, "%s/cancel/profile/%s%s");
    empty_body(b);
}

static void build_schedules_get(builder *b)
{
    site_path(b, SCHEDULES_PATH);
}

/* The fields of a schedule write, in the seed's order. */
static void schedule_body(builder *b)
{
    body_begin(b);
    field_string(b, "timezone", "timezone", 64);
    field_string(b, "startTime", "start_time", 5);
    field_string(b, "endTime", "end_time", 5);
    field_integer(b, "limit", "limit", 0, 100);
    field_string(b, "scheduleType", "type", 3);
    field_days(b, "days", "days");
    json_writer_key(&b->w, "isEnabled");
    json_writer_boolean(&b->w, 1);
    body_end(b);
}

static void build_schedule_add(builder *b)
{
    site_path(b, SCHEDULES_PATH);
    schedule_body(b);
}

/* .../schedules/<id><suffix> */
static void schedule_path(builder *b, const char *suffix)
{
    char site[32], id[72], tail[96];
    site_text(b, site, sizeof site);
    schedule_id_text(b, id, sizeof id);
    (void)snprintf(tail, sizeof tail, "/%s%s", id, suffix);
    set_text(b, b->rq->path, sizeof b->rq->path, SCHEDULES_PATH, site, tail);
}

static void build_schedule_update(builder *b)
{
    schedule_path(b, "");
    schedule_body(b);
}

static void build_schedule_delete(builder *b)
{
    schedule_path(b, "/delete");
    empty_body(b);
}

/* GET BC/stormGuard/<site>/stormAlert: the storm alerts. */
static void build_storm_alerts_get(builder *b)
{
    site_path(b, "%s/stormGuard/%s/stormAlert%s");
}

/* PUT BC/stormGuard/toggle/<site>?userId=<user>&source=enho
 * {"stormGuardState":"enabled"|"disabled","evseStormEnabled":ev}. */
static void build_storm_guard_put(builder *b)
{
    int on = arg_boolean(b, "enabled"), ev = arg_boolean(b, "ev");
    if (on < 0) {
        arg_error(b, "enabled", "required");
        return;
    }
    site_path(b, "%s/stormGuard/toggle/%s%s");
    user_query(b, "enho", 0);
    body_begin(b);
    json_writer_key(&b->w, "stormGuardState");
    if (on)
        json_writer_string(&b->w, "enabled", 7);
    else
        json_writer_string(&b->w, "disabled", 8);
    json_writer_key(&b->w, "evseStormEnabled");
    if (ev < 0)
        put_placeholder(b, "ev");
    else
        json_writer_boolean(&b->w, ev);
    body_end(b);
}

/* A storm alert id as the API lists it: letters, digits, - _ . : */
static void check_alert_id(builder *b, const char *id, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z') || c == '-' || c == '_' || c == '.' ||
              c == ':'))
            arg_error(b, "id", "letters, digits, - _ . : expected");
    }
}

/* PUT BC/stormGuard/<site>/stormAlert
 * {"stormAlerts":[{"id":..,"name":..,"status":"opted-out"}]}. */
static void build_storm_alert_opt_out(builder *b)
{
    size_t n = 0, nlen = 0;
    const char *name, *id = arg_string(b, "id", 128, &n);
    if (id != NULL)
        check_alert_id(b, id, n);
    else if (!b->plan)
        arg_error(b, "id", "required");
    site_path(b, "%s/stormGuard/%s/stormAlert%s");
    body_begin(b);
    json_writer_key(&b->w, "stormAlerts");
    json_writer_begin_array(&b->w);
    json_writer_begin_object(&b->w);
    json_writer_key(&b->w, "id");
    if (id == NULL)
        put_placeholder(b, "id");
    else
        json_writer_string(&b->w, id, n);
    name = arg_text(b, "name", 0, 256, &nlen);
    json_writer_key(&b->w, "name");
    if (name == NULL)
        put_placeholder(b, "name");
    else
        json_writer_string(&b->w, name, nlen);
    json_writer_key(&b->w, "status");
    json_writer_string(&b->w, "opted-out", 9);
    json_writer_end_object(&b->w);
    json_writer_end_array(&b->w);
    body_end(b);
}

static const char *const NO_ARGS[] = {NULL};
static const char *const VALIDATE_ARGS[] = {"mode", NULL};
static const char *const SETTINGS_ARGS[] = {
    "charge_from_grid",   "accepted_itc_at", "discharge_to_grid",
    "restrict_discharge", "very_low_soc",    NULL};
static const char *const PROFILE_ARGS[] = {"profile", "reserve", NULL};
static const char *const SCHEDULE_ARGS[] = {
    "type", "start_time", "end_time", "limit", "days", "timezone", NULL};
static const char *const UPDATE_ARGS[] = {
    "id", "type", "start_time", "end_time", "limit", "days", "timezone", NULL};
static const char *const ID_ARGS[] = {"id", NULL};
static const char *const STORM_GUARD_ARGS[] = {"enabled", "ev", NULL};
static const char *const OPT_OUT_ARGS[] = {"id", "name", NULL};

static const operation OPERATIONS[] = {
    {"validate", "POST", VALIDATE_ARGS, build_validate},
    {"settings_get", "GET", NO_ARGS, build_settings_get},
    {"settings_put", "PUT", SETTINGS_ARGS, build_settings_put},
    {"site_settings", "GET", NO_ARGS, build_site_settings},
    {"profile_get", "GET", NO_ARGS, build_profile_get},
    {"profile_put", "PUT", PROFILE_ARGS, build_profile_put},
    {"profile_cancel", "PUT", NO_ARGS, build_profile_cancel},
    {"schedules_get", "GET", NO_ARGS, build_schedules_get},
    {"schedule_add", "POST", SCHEDULE_ARGS, build_schedule_add},
    {"schedule_update", "PUT", UPDATE_ARGS, build_schedule_update},
    {"schedule_delete", "POST", ID_ARGS, build_schedule_delete},
    {"storm_alerts_get", "GET", NO_ARGS, build_storm_alerts_get},
    {"storm_guard_put", "PUT", STORM_GUARD_ARGS, build_storm_guard_put},
    {"storm_alert_opt_out", "PUT", OPT_OUT_ARGS, build_storm_alert_opt_out},
    {NULL, NULL, NULL, NULL}};

void battery_build(lua_State *L, const session *s, int op_idx, int args_idx,
                   int plan, battery_request *rq)
{
    const char *name = luaL_checkstring(L, op_idx);
    const operation *op = OPERATIONS;
    builder b;
    int top = lua_gettop(L);
    while (op->name != NULL && strcmp(op->name, name) != 0)
        op++;
    if (op->name == NULL)
        luaL_argerror(L, op_idx,
                      lua_pushfstring(L, "unknown operation '%s'", name));
    if (!lua_isnoneornil(L, args_idx))
        luaL_checktype(L, args_idx, LUA_TTABLE);
    memset(rq, 0, sizeof *rq);
    rq->op = op->name;
    rq->method = op->method;
    b.L = L;
    b.s = s;
    b.args = lua_isnoneornil(L, args_idx) ? 0 : lua_absindex(L, args_idx);
    b.plan = plan;
    b.rq = rq;
    luaL_checkstack(L, 8, "battery_build");
    check_names(&b, op->args);
    op->build(&b);
    lua_settop(L, top);
}

void battery_push_operations(lua_State *L)
{
    const operation *op;
    lua_createtable(L, 0, (int)(sizeof OPERATIONS / sizeof *OPERATIONS) - 1);
    for (op = OPERATIONS; op->name != NULL; op++) {
        lua_pushstring(L, op->method);
        lua_setfield(L, -2, op->name);
    }
}
