/*
 * The transfer engine (engine.h): the multi handle shared by the sessions of
 * a Lua state, the blocking wait, and core.poll for the Lua engine
 * (lua/enphase/transport/engine.lua).
 *
 * The multi handle is created with the first attached session and cleaned
 * up when the last one detaches. Connections are not pooled in it: each
 * session brings its own connection cache (a share object, http_setup), so
 * a client keeps its one connection whatever the others do, and closing it
 * closes that connection. So the multi's cache size (CURLMOPT_MAXCONNECTS)
 * never closes a client's idle connection, and CURLMOPT_MAX_HOST_CONNECTIONS
 * stays unlimited: 500 clients of one host hold 500 connections at once.
 *
 * Finished transfers a coroutine waits on are reported by id through a C
 * array sized when a session attaches (never while libcurl runs): it holds
 * at most one id per attached session, plus the ids of sessions detached
 * while a coroutine waited on them ("orphans", until the next core.poll).
 */
#define _POSIX_C_SOURCE 200809L

#include "engine.h"

#include "clock.h"
#include "compat.h"
#include "session.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ENGINE_MT "enphase.engine"

typedef struct engine {
    CURLM *multi;             /* NULL until a session attaches */
    struct session *sessions; /* attached, linked through xfer.prev/next */
    size_t nsessions;
    int inflight;       /* handles in the multi */
    lua_Integer *ready; /* ids of ended transfers coroutines wait on */
    size_t nready, ready_cap, orphans;
    lua_Integer last_id;
    int closed; /* __gc has run (lua_close) */
} engine;

/* Registry keys and the yield marker: their addresses. */
static char engine_key;
static char ops_key;
static char wait_marker;

static engine *engine_get(lua_State *L)
{
    engine *e;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &engine_key);
    e = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (e == NULL)
        luaL_error(L, "enphase.core: the transfer engine is missing");
    return e;
}

/* ------------------------------------------------------------------ */
/* Sessions in and out                                                 */
/* ------------------------------------------------------------------ */

/* Raises (out of memory) before changing anything. */
static void attach(lua_State *L, engine *e, session *s)
{
    size_t need = e->nsessions + e->orphans + 1;
    if (need > e->ready_cap) {
        size_t cap = e->ready_cap ? e->ready_cap * 2 : 16;
        lua_Integer *r;
        while (cap < need)
            cap *= 2;
        r = realloc(e->ready, cap * sizeof *r);
        if (r == NULL)
            luaL_error(L, "not enough memory");
        e->ready = r;
        e->ready_cap = cap;
    }
    if (e->multi == NULL) {
        e->multi = curl_multi_init();
        if (e->multi == NULL)
            luaL_error(L, "curl_multi_init failed");
    }
    if (s->xfer.id == 0)
        s->xfer.id = ++e->last_id;
    s->xfer.prev = NULL;
    s->xfer.next = e->sessions;
    if (e->sessions != NULL)
        e->sessions->xfer.prev = s;
    e->sessions = s;
    e->nsessions++;
    s->xfer.eng = e;
}

/* Puts msg in s's error buffer (libcurl's own, read by http_finish). */
static void set_error(session *s, const char *msg)
{
    size_t n = strlen(msg);
    if (n >= sizeof s->errbuf)
        n = sizeof s->errbuf - 1;
    memcpy(s->errbuf, msg, n);
    s->errbuf[n] = '\0';
}

/* The transfer of s has ended with rc (or was aborted). */
static void end_transfer(engine *e, session *s, CURLcode rc)
{
    if (s->xfer.inflight) {
        curl_multi_remove_handle(e->multi, s->curl);
        s->xfer.inflight = 0;
        e->inflight--;
    }
    s->xfer.result = rc;
    s->xfer.done = 1;
    if (s->xfer.waiting && e->nready < e->ready_cap)
        e->ready[e->nready++] = s->xfer.id;
}

void engine_detach(session *s)
{
    engine *e = s->xfer.eng;
    if (e == NULL)
        return;
    if (s->xfer.inflight) {
        set_error(s, "the session was closed during the transfer");
        end_transfer(e, s, CURLE_ABORTED_BY_CALLBACK);
    }
    if (s->xfer.waiting)
        e->orphans++; /* its id may still be in e->ready */
    if (s->xfer.prev != NULL)
        s->xfer.prev->xfer.next = s->xfer.next;
    else
        e->sessions = s->xfer.next;
    if (s->xfer.next != NULL)
        s->xfer.next->xfer.prev = s->xfer.prev;
    s->xfer.prev = s->xfer.next = NULL;
    s->xfer.eng = NULL;
    e->nsessions--;
    if (e->nsessions == 0) {
        curl_multi_cleanup(e->multi);
        e->multi = NULL;
    }
}

/* ------------------------------------------------------------------ */
/* Driving the multi handle                                            */
/* ------------------------------------------------------------------ */

/* Records every transfer libcurl reports as ended. */
static void drain(engine *e)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(e->multi, &left)) != NULL) {
        CURL *h = m->easy_handle;
        CURLcode rc = m->data.result;
        char *p = NULL;
        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(h, CURLINFO_PRIVATE, &p);
        if (p != NULL)
            end_transfer(e, (session *)(void *)p, rc);
        else
            curl_multi_remove_handle(e->multi, h);
    }
}

/* The multi handle itself failed: every transfer in flight fails. */
static void fail_all(engine *e, CURLMcode mc)
{
    session *s;
    for (s = e->sessions; s != NULL; s = s->xfer.next)
        if (s->xfer.inflight) {
            set_error(s, curl_multi_strerror(mc));
            end_transfer(e, s, CURLE_RECV_ERROR);
        }
}

/* One round: start what is ready, and record what has ended. */
static void perform(engine *e)
{
    int running = 0;
    CURLMcode mc = curl_multi_perform(e->multi, &running);
    if (mc != CURLM_OK)
        fail_all(e, mc);
    else
        drain(e);
}

static void wait_for(engine *e, int ms)
{
    CURLMcode mc;
    if (ms <= 0)
        return;
    mc = curl_multi_poll(e->multi, NULL, 0, ms, NULL);
    if (mc != CURLM_OK)
        fail_all(e, mc);
}

int engine_start(lua_State *L, session *s)
{
    engine *e = s->xfer.eng;
    CURLMcode mc;
    s->xfer.done = 0;
    s->xfer.started = 0;
    if (e == NULL) {
        e = engine_get(L);
        if (e->closed) {
            set_error(s, "the transfer engine is closed");
            s->xfer.result = CURLE_FAILED_INIT;
            s->xfer.done = 1;
            return -1;
        }
        attach(L, e, s);
    }
    mc = curl_multi_add_handle(e->multi, s->curl);
    if (mc != CURLM_OK) {
        set_error(s, curl_multi_strerror(mc));
        s->xfer.result = CURLE_FAILED_INIT;
        s->xfer.done = 1;
        return -1;
    }
    s->xfer.started = 1;
    s->xfer.inflight = 1;
    e->inflight++;
    return 0;
}

void engine_wait(lua_State *L, session *s)
{
    engine *e = s->xfer.eng;
    (void)L;
    while (!s->xfer.done) {
        perform(e);
        if (!s->xfer.done)
            wait_for(e, 1000);
    }
}

/* ------------------------------------------------------------------ */
/* Operations (coroutines of the Lua engine)                           */
/* ------------------------------------------------------------------ */

int engine_may_yield(lua_State *L)
{
    int marked;
    if (!lua_isyieldable(L))
        return 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ops_key);
    lua_pushthread(L);
    lua_rawget(L, -2);
    marked = lua_toboolean(L, -1);
    lua_pop(L, 2);
    return marked;
}

void engine_push_wait(lua_State *L, const session *s)
{
    luaL_checkstack(L, 2, "engine_push_wait");
    lua_pushlightuserdata(L, &wait_marker);
    lua_pushinteger(L, s->xfer.id);
}

void engine_push_marker(lua_State *L)
{
    lua_pushlightuserdata(L, &wait_marker);
}

/* core.mark_operation(thread [, on]): the Lua engine's marker. */
int engine_mark_operation(lua_State *L)
{
    int on = lua_isnoneornil(L, 2) || lua_toboolean(L, 2);
    luaL_checktype(L, 1, LUA_TTHREAD);
    lua_settop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ops_key);
    lua_pushvalue(L, 1);
    if (on)
        lua_pushboolean(L, 1);
    else
        lua_pushnil(L);
    lua_rawset(L, -3);
    return 0;
}

/* core.poll(seconds): starts what was added, waits at most `seconds` for
 * something to end (not at all when an end is already waiting to be
 * reported), and returns the ids of the ended transfers that coroutines
 * wait on, and the number of transfers still in flight. */
int engine_poll(lua_State *L)
{
    engine *e = engine_get(L);
    lua_Number t = luaL_optnumber(L, 1, 0);
    int ms;
    size_t i;
    luaL_argcheck(L, t >= 0, 1, "seconds must be >= 0");
    ms = t > 86400 ? 86400000 : (int)ceil(t * 1000);
    if (e->multi != NULL && e->inflight > 0) {
        perform(e);
        if (e->nready == 0 && e->inflight > 0) {
            wait_for(e, ms);
            perform(e);
        }
    } else if (e->nready == 0) {
        (void)clock_sleep(ms / 1000.0);
    }
    lua_createtable(L, (int)e->nready, 0);
    for (i = 0; i < e->nready; i++) {
        lua_pushinteger(L, e->ready[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    e->nready = 0;
    e->orphans = 0;
    lua_pushinteger(L, e->inflight);
    return 2;
}

/* core.pending() -> transfers in flight, ended ones not reported yet,
 * sessions attached. */
int engine_pending(lua_State *L)
{
    engine *e = engine_get(L);
    lua_pushinteger(L, e->inflight);
    lua_pushinteger(L, (lua_Integer)e->nready);
    lua_pushinteger(L, (lua_Integer)e->nsessions);
    return 3;
}

/* ------------------------------------------------------------------ */
/* Life of the engine                                                  */
/* ------------------------------------------------------------------ */

/* At lua_close: the sessions still attached let go of the multi handle
 * first (a session's own __gc then finds it detached). */
static int engine_gc(lua_State *L)
{
    engine *e = luaL_checkudata(L, 1, ENGINE_MT);
    session *s = e->sessions;
    while (s != NULL) {
        session *next = s->xfer.next;
        if (s->xfer.inflight) {
            curl_multi_remove_handle(e->multi, s->curl);
            s->xfer.inflight = 0;
            s->xfer.result = CURLE_ABORTED_BY_CALLBACK;
            s->xfer.done = 1;
        }
        s->xfer.eng = NULL;
        s->xfer.prev = s->xfer.next = NULL;
        s = next;
    }
    e->sessions = NULL;
    e->nsessions = 0;
    e->inflight = 0;
    if (e->multi != NULL)
        curl_multi_cleanup(e->multi);
    e->multi = NULL;
    free(e->ready);
    e->ready = NULL;
    e->ready_cap = e->nready = e->orphans = 0;
    e->closed = 1;
    return 0;
}

void engine_open(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &engine_key) == LUA_TNIL) {
        engine *e = lua_newuserdatauv(L, sizeof *e, 0);
        memset(e, 0, sizeof *e);
        if (luaL_newmetatable(L, ENGINE_MT)) {
            lua_pushcfunction(L, engine_gc);
            lua_setfield(L, -2, "__gc");
        }
        lua_setmetatable(L, -2);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &engine_key);
        /* The threads of operations, as weak keys. */
        lua_newtable(L);
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "k");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &ops_key);
    }
    lua_pop(L, 1);
    lua_pushlightuserdata(L, &wait_marker);
    lua_setfield(L, -2, "WAIT");
}
