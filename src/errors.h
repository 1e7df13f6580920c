/*
 * Failures returned to Lua as values: nil, message, kind.
 */
#ifndef ENPHASE_ERRORS_H
#define ENPHASE_ERRORS_H

#include "compat.h"

/* The kinds of failure the C modules return: the only place they are
 * spelled in C. Each is one of lua/enphase/errors.lua's kinds, but for
 * "session", which the Lua layer answers with a fresh login and never
 * returns (spec/core_spec.lua checks both). */
#define KIND_INPUT "input"
#define KIND_AUTH "auth"
#define KIND_MFA "mfa"
#define KIND_LOCKED "locked"
#define KIND_HTTP "http"
#define KIND_NETWORK "network"
#define KIND_PROTOCOL "protocol"
#define KIND_SESSION "session"

/*
 * Pushes nil, the message formatted like lua_pushfstring (%s %d %I %f %p %c
 * %U %%) and kind; returns 3 for `return push_failure(...)`.
 */
int push_failure(lua_State *L, const char *kind, const char *fmt, ...);

#endif
