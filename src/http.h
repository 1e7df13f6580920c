/*
 * The one request path: every feature (login, discovery, XSRF, s:request)
 * sends its request through http_perform on the session's easy handle.
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
    const char *body; /* NULL: no body. Must stay alive during the call */
    size_t body_len;
} http_request;

/* Sets the per-session options on s->curl; returns the first failure. */
CURLcode http_setup(session *s, const http_options *o);

/* Starts a new list of extra request headers (held in s->req_headers). */
void http_clear_headers(session *s);

/* Adds "name: value" to the extra request headers; 0, or -1 when out of
 * memory. */
int http_add_header(session *s, const char *name, const char *value);

/*
 * Sends rq with the extra headers added since http_clear_headers (plus an
 * empty Expect:), never following redirects, and clears them. On a response
 * (any status) returns 0 with s->resp filled in; s->xsrf then holds the
 * cookie engine's latest BP-XSRF-Token. Otherwise pushes nil, message, kind
 * ("network", or "protocol" for a body over max_body) and returns 3. Raises
 * only when memory runs out.
 */
int http_perform(lua_State *L, session *s, const http_request *rq);

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
