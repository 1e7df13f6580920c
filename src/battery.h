/*
 * The battery operations: for each, its method, path, query and JSON body,
 * built from the session's ids and a table of arguments. s:plan returns
 * one as a table; s:send sends it through the one request path
 * (request.c). Validation of the values is the Lua layer's; this file
 * checks types, ranges and lengths (a wrong argument raises) and writes the
 * wire format.
 */
#ifndef ENPHASE_BATTERY_H
#define ENPHASE_BATTERY_H

#include "session.h"

#include "compat.h"
#include <stddef.h>

/* The battery API's root path. */
#define BATTERY_API "/service/batteryConfig/api/v1"

#define BATTERY_PATH_MAX 256
#define BATTERY_QUERY_MAX 96
#define BATTERY_BODY_MAX 1024

/* One built request. */
typedef struct battery_request {
    const char *op;     /* the operation's name, "settings_put"... */
    const char *method; /* GET, POST or PUT */
    char path[BATTERY_PATH_MAX];
    char query[BATTERY_QUERY_MAX]; /* "" when there is none */
    char body[BATTERY_BODY_MAX];
    size_t body_len;
    int has_body;
} battery_request;

/*
 * Builds operation op (the name at index op_idx) from the arguments table
 * at args_idx (none or nil: no arguments) into rq. For a plan (plan set),
 * what is not known yet is a placeholder: "<site>", "<user>", "<id>", and
 * "<current>" for a body field left out; otherwise a missing id or field
 * raises. An unknown operation or argument, or a value of the wrong type
 * or out of range, raises. Leaves the stack as it found it.
 */
void battery_build(lua_State *L, const session *s, int op_idx, int args_idx,
                   int plan, battery_request *rq);

/* Pushes a table {operation name = its HTTP method} (core.OPERATIONS). */
void battery_push_operations(lua_State *L);

#endif
