/*
 * The transfer engine: one libcurl multi handle per Lua state (a userdata
 * in the registry, created by luaopen), shared by every session, so that
 * every session's connection sits in one pool and any number of transfers
 * can run at once.
 *
 * Every protocol step is "prepare a request -> transfer -> handle the
 * response" (http.h). The transfer always goes through this multi handle:
 * * blocking (the caller is not an engine operation): engine_wait runs the
 *   multi handle until this session's transfer has ended. Other sessions'
 *   transfers move on meanwhile; the ends of those are queued for
 *   core.poll.
 * * non-blocking (the caller is a coroutine marked by the Lua engine with
 *   core.mark_operation, and may yield): http_run starts the transfer and
 *   answers "in progress" (core.WAIT, session id, the step's saved stack)
 *   to the method's Lua wrapper (http_wrap_methods), which yields
 *   (core.WAIT, id) to the Lua engine; once core.poll has reported that id
 *   the engine resumes the coroutine and the wrapper continues the step.
 *   Nothing yields across C: the same on Lua 5.1, LuaJIT, 5.3 and 5.4.
 *
 * libcurl never calls back into Lua and nothing raises while a libcurl
 * function runs; the state of a step lives in the session (http_xfer), not
 * on the C stack.
 */
#ifndef ENPHASE_ENGINE_H
#define ENPHASE_ENGINE_H

#include <curl/curl.h>
#include "compat.h"
#include <stddef.h>

struct session;
struct engine;

/*
 * One protocol step (login, discover_site...): called with the session's
 * xfer.phase at 0, then again after each transfer it asked for. Returns the
 * number of results it pushed (>= 0, the step is over), or HTTP_TRANSFER
 * after http_prepare (the transfer runs, then the step is called again).
 */
typedef int (*http_step)(lua_State *L, struct session *s);

#define HTTP_TRANSFER (-1)

/* The step in progress and its transfer (a member of the session). */
typedef struct http_xfer {
    /* the step */
    http_step step; /* NULL when none runs */
    int phase;      /* where the step is; set by the step itself */
    long hops;      /* redirects followed so far (discover_site) */
    char *label;    /* "GET /login": starts every failure message */
    char *body;     /* a copy of the request body (wiped after) */
    size_t body_len;

    /* the transfer */
    CURLSH *pool;       /* this session's own connection cache */
    struct engine *eng; /* set while attached to the engine */
    struct session *prev, *next;
    lua_Integer id; /* unique in the Lua state, given at the first attach */
    CURLcode result;
    int started;  /* the handle went into the multi for this request */
    int inflight; /* the handle is in the multi */
    int done;     /* the transfer has ended, its result not taken yet */
    int waiting;  /* a coroutine is suspended on this transfer */
} http_xfer;

/* Creates the engine of this Lua state (once) and sets core.WAIT in the
 * table at the top of the stack. */
void engine_open(lua_State *L);

/* True when the running coroutine is an engine operation that may yield. */
int engine_may_yield(lua_State *L);

/* Adds s's easy handle to the multi handle. Returns 0, or -1 when it could
 * not (the transfer is then done, failed). Raises only when memory runs
 * out, before anything is added. */
int engine_start(lua_State *L, struct session *s);

/* Runs the multi handle until s's transfer has ended. */
void engine_wait(lua_State *L, struct session *s);

/* Pushes the two values a waiting step yields: core.WAIT and s's id. */
void engine_push_wait(lua_State *L, const struct session *s);

/* Pushes core.WAIT alone. */
void engine_push_marker(lua_State *L);

/* Takes s out of the engine (its transfer, if any, is aborted; a coroutine
 * waiting on it is reported by the next core.poll). For session_close:
 * safe to call more than once. */
void engine_detach(struct session *s);

/* core.poll(seconds) -> {ids of finished transfers}, transfers in flight;
 * core.pending() -> transfers in flight, finished ones not yet reported;
 * core.mark_operation(thread [, on]). */
int engine_poll(lua_State *L);
int engine_pending(lua_State *L);
int engine_mark_operation(lua_State *L);

#endif
