/*
 * The one request path (see http.h). libcurl callbacks never raise: they
 * record what went wrong in s->resp and abort the transfer; http_finish
 * reports it after the transfer has ended. http_run drives the steps.
 */
#include "http.h"

#include "errors.h"
#include "secret.h"
#include "text.h"

#include "compat.h"
#include <stdlib.h>
#include <string.h>

/* Most response headers kept for one response. */
#define MAX_HEADERS 256

#define XSRF_COOKIE "BP-XSRF-Token"

/* ------------------------------------------------------------------ */
/* Response buffers                                                    */
/* ------------------------------------------------------------------ */

static void clear_response_headers(http_response *r)
{
    size_t i;
    for (i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    r->nheaders = 0;
}

static void reset_response(http_response *r)
{
    clear_response_headers(r);
    r->status = 0;
    r->body_len = 0;
    if (r->body != NULL)
        r->body[0] = '\0';
    r->effective_url = NULL;
    r->location = NULL;
    r->attempts = 0;
    r->retry_refused = 0;
    r->too_big = 0;
    r->too_many_headers = 0;
    r->no_memory = 0;
}

void http_response_free(http_response *r)
{
    clear_response_headers(r);
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    session *s = ud;
    http_response *r = &s->resp;
    size_t len = size * n;
    if (len > s->max_body - r->body_len) {
        r->too_big = 1;
        return 0;
    }
    if (r->body_len + len + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        char *nb;
        while (cap < r->body_len + len + 1)
            cap *= 2;
        nb = realloc(r->body, cap);
        if (nb == NULL) {
            r->no_memory = 1;
            return 0;
        }
        r->body = nb;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, p, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return len;
}

static char *copy_span(const char *p, size_t n)
{
    char *c = malloc(n + 1);
    if (c != NULL) {
        memcpy(c, p, n);
        c[n] = '\0';
    }
    return c;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    session *s = ud;
    http_response *r = &s->resp;
    size_t len = size * n, nlen, vs, ve, i;
    const char *colon;
    http_header h;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) { /* a new response */
        clear_response_headers(r);
        return len;
    }
    colon = memchr(p, ':', len);
    if (colon == NULL || colon == p)
        return len; /* the blank line, or not a header */
    nlen = (size_t)(colon - p);
    vs = nlen + 1;
    ve = len;
    while (ve > vs && (p[ve - 1] == '\r' || p[ve - 1] == '\n' ||
                       p[ve - 1] == ' ' || p[ve - 1] == '\t'))
        ve--;
    while (vs < ve && (p[vs] == ' ' || p[vs] == '\t'))
        vs++;
    if (r->nheaders >= MAX_HEADERS) {
        r->too_many_headers = 1;
        return 0;
    }
    if (r->nheaders == r->headers_cap) {
        size_t cap = r->headers_cap ? r->headers_cap * 2 : 16;
        http_header *nh = realloc(r->headers, cap * sizeof *nh);
        if (nh == NULL) {
            r->no_memory = 1;
            return 0;
        }
        r->headers = nh;
        r->headers_cap = cap;
    }
    h.name = copy_span(p, nlen);
    h.value = copy_span(p + vs, ve - vs);
    if (h.name == NULL || h.value == NULL) {
        free(h.name);
        free(h.value);
        r->no_memory = 1;
        return 0;
    }
    for (i = 0; i < nlen; i++)
        if (h.name[i] >= 'A' && h.name[i] <= 'Z')
            h.name[i] = (char)(h.name[i] - 'A' + 'a');
    r->headers[r->nheaders++] = h;
    return len;
}

#if LIBCURL_VERSION_NUM >= 0x075000 /* 7.80.0 */
/*
 * Called before each request goes out. libcurl silently sends a request
 * again on a fresh connection when a reused one closed without an answer;
 * for a POST or PUT that may run it twice. The retry policy belongs to the
 * Lua layer, so the second attempt is refused and reported.
 */
static int on_prereq(void *ud, char *primary_ip, char *local_ip,
                     int primary_port, int local_port)
{
    session *s = ud;
    (void)primary_ip;
    (void)local_ip;
    (void)primary_port;
    (void)local_port;
    if (s->resp.attempts++ > 0) {
        s->resp.retry_refused = 1;
        return CURL_PREREQFUNC_ABORT;
    }
    return CURL_PREREQFUNC_OK;
}
#endif

const char *http_response_header(const session *s, const char *name)
{
    size_t i;
    for (i = s->resp.nheaders; i > 0; i--)
        if (strcmp(s->resp.headers[i - 1].name, name) == 0)
            return s->resp.headers[i - 1].value;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Handle setup and cookies                                            */
/* ------------------------------------------------------------------ */

#define SETOPT(opt, val)                                                      \
    do {                                                                      \
        CURLcode rc_ = curl_easy_setopt(c, opt, val);                         \
        if (rc_ != CURLE_OK)                                                  \
            return rc_;                                                       \
    } while (0)

CURLcode http_setup(session *s, const http_options *o)
{
    CURL *c = s->curl;
    /* The session's own connection cache: it keeps its one connection
     * whatever the other sessions in the shared multi handle do, and
     * closing the session closes it (http_free_pool). */
    s->xfer.pool = curl_share_init();
    if (s->xfer.pool == NULL)
        return CURLE_OUT_OF_MEMORY;
    if (curl_share_setopt(s->xfer.pool, CURLSHOPT_SHARE,
                          CURL_LOCK_DATA_CONNECT) != CURLSHE_OK)
        return CURLE_FAILED_INIT;
    SETOPT(CURLOPT_SHARE, s->xfer.pool);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_ERRORBUFFER, s->errbuf);
    SETOPT(CURLOPT_COOKIEFILE, ""); /* the in-memory cookie engine */
    SETOPT(CURLOPT_ACCEPT_ENCODING, "");
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    SETOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    SETOPT(CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SETOPT(CURLOPT_SSL_VERIFYPEER, o->verify_tls ? 1L : 0L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, o->verify_tls ? 2L : 0L);
    if (o->ca_file != NULL)
        SETOPT(CURLOPT_CAINFO, o->ca_file);
    SETOPT(CURLOPT_TIMEOUT_MS, o->timeout_ms);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    SETOPT(CURLOPT_MAXREDIRS, o->max_redirs);
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_USERAGENT, o->user_agent);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, (void *)s);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, (void *)s);
    SETOPT(CURLOPT_PRIVATE, (void *)s); /* engine.c finds s by it */
#if LIBCURL_VERSION_NUM >= 0x075000
    SETOPT(CURLOPT_PREREQFUNCTION, on_prereq);
    SETOPT(CURLOPT_PREREQDATA, (void *)s);
#endif
    return CURLE_OK;
}

void http_free_pool(session *s)
{
    if (s->xfer.pool != NULL && s->curl == NULL) {
        curl_share_cleanup(s->xfer.pool); /* closes the connection */
        s->xfer.pool = NULL;
    }
}

void http_clear_headers(session *s)
{
    if (s->curl != NULL)
        curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, (struct curl_slist *)0);
    secret_free_list(s->req_headers);
    s->req_headers = NULL;
}

int http_add_header(session *s, const char *name, const char *value)
{
    size_t nn = strlen(name), vn = strlen(value);
    char *line = malloc(nn + vn + 3);
    struct curl_slist *l;
    if (line == NULL)
        return -1;
    memcpy(line, name, nn);
    memcpy(line + nn, ": ", 2);
    memcpy(line + nn + 2, value, vn + 1);
    if (vn == 0)
        line[nn + 1] = '\0'; /* "Name:" removes one of curl's headers */
    l = curl_slist_append(s->req_headers, line);
    secret_free(&line);
    if (l == NULL)
        return -1;
    s->req_headers = l;
    return 0;
}

int http_cookie(session *s, const char *name, char **value)
{
    struct curl_slist *list = NULL, *it;
    const char *found = NULL;
    size_t nlen = strlen(name);
    int rc = 0;
    if (curl_easy_getinfo(s->curl, CURLINFO_COOKIELIST, &list) != CURLE_OK)
        return 0;
    /* Netscape format: domain, tailmatch, path, secure, expires, name,
     * value; separated by tabs. */
    for (it = list; it != NULL; it = it->next) {
        const char *p = it->data;
        int tabs = 0;
        while (*p != '\0' && tabs < 5)
            if (*p++ == '\t')
                tabs++;
        if (tabs == 5 && strncmp(p, name, nlen) == 0 && p[nlen] == '\t')
            found = p + nlen + 1;
    }
    if (found != NULL)
        rc = secret_set(value, found, strlen(found)) == 0 ? 1 : -1;
    secret_free_list(list);
    return rc;
}

void http_clear_cookies(session *s)
{
    curl_easy_setopt(s->curl, CURLOPT_COOKIELIST, "ALL");
}

/* Follows a rotated BP-XSRF-Token cookie. Only header-safe values count. */
static void sync_xsrf(session *s)
{
    char *v = NULL;
    if (http_cookie(s, XSRF_COOKIE, &v) != 1)
        return;
    if (text_is_token(v, strlen(v)) &&
        (s->xsrf == NULL || strcmp(s->xsrf, v) != 0)) {
        secret_free(&s->xsrf);
        s->xsrf = v;
        v = NULL;
    }
    secret_free(&v);
}

/* ------------------------------------------------------------------ */
/* The request                                                         */
/* ------------------------------------------------------------------ */

void http_release(session *s)
{
    CURL *c = s->curl;
    if (c != NULL) {
        /* Leave no pointer into a buffer freed below. */
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, (char *)0);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, (char *)0);
    }
    http_clear_headers(s);
    secret_free_n(&s->xfer.body, s->xfer.body_len);
    s->xfer.body_len = 0;
}

static char *copy_string(const char *p)
{
    return copy_span(p, strlen(p));
}

void http_prepare(lua_State *L, session *s, const http_request *rq)
{
    CURL *c = s->curl;
    CURLcode rc;
    int post = strcmp(rq->method, "POST") == 0;
    int get = strcmp(rq->method, "GET") == 0;

    reset_response(&s->resp);
    s->errbuf[0] = '\0';
    s->xfer.done = 0;
    s->xfer.started = 0;
    free(s->xfer.label);
    s->xfer.label = copy_string(rq->label);
    secret_free_n(&s->xfer.body, s->xfer.body_len);
    s->xfer.body_len = 0;
    if (rq->body != NULL) {
        s->xfer.body = copy_span(rq->body, rq->body_len);
        s->xfer.body_len = rq->body_len;
    }
    if (s->xfer.label == NULL || (rq->body != NULL && s->xfer.body == NULL) ||
        http_add_header(s, "Expect", "") != 0) {
        http_release(s);
        luaL_error(L, "%s: not enough memory", rq->label);
        return;
    }
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, s->req_headers);
    if (rq->body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)s->xfer.body_len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, s->xfer.body);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, post ? NULL : rq->method);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, get ? NULL : rq->method);
    }
    rc = curl_easy_setopt(c, CURLOPT_URL, rq->url);
    if (rc != CURLE_OK) { /* fails without being sent */
        s->xfer.result = rc;
        s->xfer.done = 1;
    }
}

int http_finish(lua_State *L, session *s)
{
    CURL *c = s->curl;
    CURLcode rc = s->xfer.result;
    const char *label = s->xfer.label != NULL ? s->xfer.label : "request";
    long sent = 0, status = 0;
    char *url = NULL;

    s->xfer.done = 0;
    if (s->xfer.started) {
        s->xfer.started = 0;
        if (curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &sent) == CURLE_OK &&
            sent > 0)
            s->requests++;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        s->resp.status = status;
        curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &url);
        s->resp.effective_url = url;
        url = NULL;
        curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &url);
        s->resp.location = url;
        sync_xsrf(s);
    }
    http_release(s);
    if (s->resp.no_memory)
        return luaL_error(L, "%s: not enough memory", label);
    if (s->resp.too_big)
        return push_failure(L, KIND_PROTOCOL,
                            "%s: response body larger than %I bytes", label,
                            (lua_Integer)s->max_body);
    if (s->resp.too_many_headers)
        return push_failure(L, KIND_PROTOCOL,
                            "%s: more than %d response headers", label,
                            MAX_HEADERS);
    if (s->resp.retry_refused)
        return push_failure(L, KIND_NETWORK,
                            "%s: the connection closed without an answer",
                            label);
    if (rc != CURLE_OK) {
        if (s->errbuf[0] != '\0')
            return push_failure(L, KIND_NETWORK, "%s: %s (%s)", label,
                                curl_easy_strerror(rc), s->errbuf);
        return push_failure(L, KIND_NETWORK, "%s: %s", label,
                            curl_easy_strerror(rc));
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The driver                                                          */
/* ------------------------------------------------------------------ */

/* Packs the stack (the step's arguments and what it keeps there between
 * its phases) into a table, pushed on top of it. */
static void save_stack(lua_State *L)
{
    int top = lua_gettop(L);
    int i;
    lua_createtable(L, top, 1);
    for (i = 1; i <= top; i++) {
        lua_pushvalue(L, i);
        lua_rawseti(L, -2, i);
    }
    lua_pushinteger(L, top);
    lua_setfield(L, -2, "n");
}

/* Replaces the stack by the values save_stack packed into the table at
 * idx. */
static void restore_stack(lua_State *L, int idx)
{
    int n, i;
    lua_getfield(L, idx, "n");
    n = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    luaL_checkstack(L, n + 1, "restore_stack");
    lua_pushvalue(L, idx);
    for (i = 1; i <= n; i++)
        lua_rawgeti(L, -i, i);
    /* [... saved v1..vn]: drop everything below the values */
    lua_remove(L, -n - 1);
    while (lua_gettop(L) > n)
        lua_remove(L, 1);
}

/* The answer "in progress": core.WAIT, the session id and the saved stack
 * (3 values); the Lua wrapper yields, then calls continue_step. */
static int push_in_progress(lua_State *L, session *s)
{
    luaL_checkstack(L, 4, "http_run");
    save_stack(L);
    engine_push_wait(L, s);
    lua_rotate(L, -3, 2); /* WAIT, id, saved */
    return 3;
}

/* Runs the step's phases; each transfer runs to its end here (blocking),
 * or with may_wait, once started, the answer is "in progress". */
static int drive(lua_State *L, session *s, int may_wait)
{
    for (;;) {
        int n = s->xfer.step(L, s);
        if (n != HTTP_TRANSFER) {
            s->xfer.step = NULL;
            return n;
        }
        if (s->xfer.done) /* failed before it could start */
            continue;
        if (engine_start(L, s) != 0)
            continue;
        if (may_wait) {
            s->xfer.waiting = 1;
            return push_in_progress(L, s);
        }
        engine_wait(L, s);
    }
}

/* continue_step(s, saved): carries on a step after its transfer, on the
 * stack it had (saved); answers like the method, "in progress" again
 * while a transfer runs (also when resumed early). */
static int continue_step(lua_State *L)
{
    session *s = luaL_checkudata(L, 1, SESSION_MT);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (s->curl == NULL || s->xfer.step == NULL) {
        s->xfer.waiting = 0;
        return push_failure(L, KIND_NETWORK,
                            "the session was closed during the request");
    }
    if (!s->xfer.done) { /* resumed early: wait on */
        engine_push_wait(L, s);
        lua_pushvalue(L, 2);
        return 3;
    }
    s->xfer.waiting = 0;
    restore_stack(L, 2);
    return drive(L, s, 1);
}

/* The Lua half, the same on every Lua (nothing yields across C): while a
 * method answers "in progress", yield core.WAIT and the id to the engine,
 * then continue. */
static const char after_source[] =
    "local WAIT, continue = ...\n"
    "local yield = coroutine.yield\n"
    "local function after(s, marker, ...)\n"
    "  if marker ~= WAIT then return marker, ... end\n"
    "  local id, saved = ...\n"
    "  yield(WAIT, id)\n"
    "  return after(s, continue(s, saved))\n"
    "end\n"
    "return after\n";

/* One wrapper per method, the method named in it (error messages). */
static const char wrapper_source[] =
    "local raw, after = ...\n"
    "return function(s, ...) return after(s, raw.%s(s, ...)) end\n";

static void load_chunk(lua_State *L, const char *source)
{
    if (luaL_loadbuffer(L, source, strlen(source), "=enphase.core") != 0)
        lua_error(L); /* the sources above: cannot happen */
}

void http_wrap_methods(lua_State *L, int methods, const char *const *names)
{
    int i;
    methods = lua_absindex(L, methods);
    luaL_checkstack(L, 6, "http_wrap_methods");
    lua_newtable(L); /* raw methods */
    load_chunk(L, after_source);
    engine_push_marker(L);
    lua_pushcfunction(L, continue_step);
    lua_call(L, 2, 1); /* raw, after */
    for (i = 0; names[i] != NULL; i++) {
        lua_getfield(L, methods, names[i]);
        lua_setfield(L, -3, names[i]);
        lua_pushfstring(L, wrapper_source, names[i]);
        load_chunk(L, lua_tostring(L, -1));
        lua_remove(L, -2);
        lua_pushvalue(L, -3);
        lua_pushvalue(L, -3);
        lua_call(L, 2, 1);
        lua_setfield(L, methods, names[i]);
    }
    lua_pop(L, 2);
}

int http_run(lua_State *L, session *s, http_step step)
{
    if (s->xfer.waiting)
        return push_failure(L, KIND_INPUT,
                            "session busy: another operation is using it "
                            "(one request at a time per session)");
    s->xfer.step = step;
    s->xfer.phase = 0;
    s->xfer.hops = 0;
    return drive(L, s, engine_may_yield(L));
}
