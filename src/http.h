/*
 * The one request path: every feature (login, discovery, XSRF, s:request)
 * is a step run by http_run: prepare a request (http_prepare), transfer it
 * through the engine (engine.h), handle the response (http_finish, then
 * the step's own checks). Blocking and non-blocking calls share all of it.
 */
#ifndef ENPHASE_HTTP_H
#define ENPHASE_HTTP_H

#include "session.h"

/* Options applied once to a new easy handle. */
typedef struct http_options {
    const char *user_agent;
    const char *ca_file; /* NULL: libcurl's default CA bundle */
    int verify_tls;
    long timeout_ms;
    long connect_timeout_ms;
    long max_redirs;
} http_options;

typedef struct http_request {
    const char *label;  /* "GET /login": starts every failure message */
    const char *method; /* GET, POST, PUT, DELETE or PATCH */
    const char *url;
    const char *body; /* NULL: no body. Copied by http_prepare */
    size_t body_len;
} http_request;

/* Sets the per-session options on s->curl, with the session's own
 * connection cache (a share object); returns the first failure. */
CURLcode http_setup(session *s, const http_options *o);

/* Frees the session's connection cache, closing its connection; for
 * session_close, after curl_easy_cleanup. */
void http_free_pool(session *s);

/* Starts a new list of extra request headers (held in s->req_headers). */
void http_clear_headers(session *s);

/* Adds "name: value" to the extra request headers; 0, or -1 when out of
 * memory. */
int http_add_header(session *s, const char *name, const char *value);

/*
 * Runs a protocol step (engine.h) from its phase 0 to its end and returns
 * what it returns: the only driver of requests. Between the phases, each
 * transfer runs to its end here (blocking), or, inside an engine operation,
 * the answer is "in progress" (http_wrap_methods): the method's Lua wrapper
 * yields until core.poll reports the transfer, then continues the step (the
 * method returns to its caller when the step is over). A session whose step
 * waits in another coroutine answers nil, "session busy: ...", "input" and
 * sends nothing.
 */
int http_run(lua_State *L, session *s, http_step step);

/*
 * Replaces each method names[i] (NULL-terminated) of the table at index
 * methods, a C function that ends in http_run, by a Lua wrapper that
 * yields while the step answers "in progress" and then continues it: the
 * Lua half of the non-blocking path. For luaopen, once.
 */
void http_wrap_methods(lua_State *L, int methods, const char *const *names);

/*
 * For a step: sets up rq as the next request, with the extra headers added
 * since http_clear_headers (plus an empty Expect:), never following
 * redirects. Copies the label and the body: nothing of the caller needs to
 * outlive the call. The step then returns HTTP_TRANSFER. Raises only when
 * memory runs out.
 */
void http_prepare(lua_State *L, session *s, const http_request *rq);

/*
 * For a step, after its transfer: on a response (any status) returns 0 with
 * s->resp filled in; s->xsrf then holds the cookie engine's latest
 * BP-XSRF-Token. Otherwise pushes nil, message, kind ("network", or
 * "protocol" for a body over max_body) and returns 3. Raises only when
 * memory ran out.
 */
int http_finish(lua_State *L, session *s);

/* Forgets the prepared request (options pointing at its buffers, headers,
 * the copies); for session_close too. */
void http_release(session *s);

/* Value of the header called name (lower case) in s->resp, or NULL. */
const char *http_response_header(const session *s, const char *name);

/* Finds the last cookie called name in the cookie engine. Returns 1 and a
 * malloc'd copy in *value (free it with secret_free), 0 when there is none,
 * -1 when out of memory. */
int http_cookie(session *s, const char *name, char **value);

/* Erases every cookie of the cookie engine. */
void http_clear_cookies(session *s);

/* Frees what s->resp holds. */
void http_response_free(http_response *r);

#endif
