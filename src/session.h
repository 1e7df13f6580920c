/*
 * The session userdata: one libcurl easy handle (keep-alive, in-memory
 * cookie engine), the account and the tokens. Everything it points to is
 * owned by it and freed by lifecycle_close, so a Lua error raised anywhere
 * after an allocation leaks nothing: __gc still runs.
 */
#ifndef ENPHASE_SESSION_H
#define ENPHASE_SESSION_H

#include "engine.h"

#include <curl/curl.h>
#include "compat.h"
#include <stddef.h>

#define SESSION_MT "enphase.session"

/* One response header of the final response: name lower-cased. */
typedef struct http_header {
    char *name;
    char *value;
} http_header;

/* The last response; reused for every request (see http.h). */
typedef struct http_response {
    long status;
    char *body; /* NUL-terminated for convenience; may hold NULs */
    size_t body_len, body_cap;
    http_header *headers;
    size_t nheaders, headers_cap;
    const char *effective_url; /* owned by libcurl, valid until next request */
    const char *location;      /* idem; NULL when not a redirect */
    int attempts;              /* requests sent by this transfer */
    int retry_refused;         /* libcurl tried to send it a second time */
    int too_big;               /* the body went over max_body */
    int too_many_headers;
    int no_memory;
} http_response;

typedef struct session {
    CURL *curl; /* NULL once closed */
    char errbuf[CURL_ERROR_SIZE];
    struct curl_slist *req_headers; /* of the request in flight */
    char *form;                     /* the login form (has the password) */
    size_t form_len;
    http_response resp;
    http_xfer xfer; /* the step in progress and its transfer (engine.h) */

    /* options */
    char *base_url; /* without a trailing slash */
    char *base_host;
    char *email;
    size_t email_len;
    char *password; /* wiped before free */
    size_t password_len;
    long max_redirs;
    size_t max_body;

    /* state. The ids and the JWT are not kept here: the session reads
     * them from their one home, a Lua table it holds a reference to (the
     * site's facts: site_id, user_id; the JWT record: token, exp), and
     * writes only the JWT record (after jwt_token.json). */
    int site_ref; /* registry reference of the site's facts */
    int jwt_ref;  /* registry reference of the JWT record */
    char *xsrf;   /* wiped before free */
    char *csrf;   /* the login page's CSRF token, for the MFA steps; wiped */
    lua_Integer requests;
    unsigned long long state_hash; /* of the state above (state.c) */
    lua_Integer generation;        /* bumped when state_hash changes */
} session;

/* The session at index idx; raises when it is not one, or is closed. */
session *session_check(lua_State *L, int idx);

/* Pushes base_url .. path and returns it. */
const char *session_push_url(lua_State *L, const session *s, const char *path);

/* Forgets the XSRF and CSRF tokens. */
void session_forget_tokens(session *s);

/* The site and user ids, read from the site's facts: 0 when unknown (not
 * an integer >= 1). */
void session_ids(lua_State *L, const session *s, lua_Integer *site,
                 lua_Integer *user);

/* Pushes the JWT (or nil) from the JWT record and returns it (NULL when
 * there is none); *exp (may be NULL) gets its expiry, 0 without one. The
 * string stays valid while it is on the stack. */
const char *session_push_jwt(lua_State *L, const session *s, lua_Integer *exp);

/* Writes the JWT record: the string at the top of the stack (popped) as
 * its token, exp as its expiry; a nil at the top forgets both. */
void session_store_jwt(lua_State *L, const session *s, lua_Integer exp);

/* Reads an integer from idx; integral floats count. Returns 0, or -1 when
 * the value is not a number, -2 when it is not integral. */
int session_to_integer(lua_State *L, int idx, lua_Integer *out);

/* Methods s:info(), s:secrets() and __tostring. */
int session_info(lua_State *L);
int session_secrets(lua_State *L);
int session_tostring(lua_State *L);

#endif
