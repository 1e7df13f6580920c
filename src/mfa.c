/*
 * s:mfa_send(csrf) and s:mfa_validate(csrf, otp): the two form POSTs of
 * Enlighten's multi-factor login, sent with the pending login's cookies
 * and its CSRF token (the login page's, from s:secrets().csrf, or kept
 * by the caller between processes). The one-time code and the e-mail go
 * base64-encoded in the form, which is wiped once libcurl has its copy.
 * Messages never carry the code, the CSRF token or a cookie value.
 */
#include "mfa.h"

#include "errors.h"
#include "http.h"
#include "json.h"
#include "login.h"
#include "parse.h"
#include "secret.h"

#include "compat.h"
#include <stdlib.h>
#include <string.h>

#define SEND_POST "POST /app-api/generate_mfa_login_otp"
#define VALIDATE_POST "POST /app-api/validate_login_otp"

/* The CSRF token goes into a header: printable ASCII, no spaces. */
static const char *check_csrf(lua_State *L, int arg)
{
    size_t n, i;
    const char *p = luaL_checklstring(L, arg, &n);
    int ok = n > 0 && n <= 512;
    for (i = 0; ok && i < n; i++)
        ok = (unsigned char)p[i] > 0x20 && (unsigned char)p[i] < 0x7F;
    luaL_argcheck(L, ok, arg, "not a CSRF token");
    return p;
}

/* Standard padded base64 of src[0..n), NUL-terminated, malloc'd; NULL when
 * out of memory. */
static char *base64(const unsigned char *src, size_t n)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    size_t i;
    if (out == NULL)
        return NULL;
    for (i = 0; i + 2 < n; i += 3) {
        unsigned long v = (unsigned long)src[i] << 16 |
                          (unsigned long)src[i + 1] << 8 | src[i + 2];
        *o++ = abc[v >> 18 & 63];
        *o++ = abc[v >> 12 & 63];
        *o++ = abc[v >> 6 & 63];
        *o++ = abc[v & 63];
    }
    if (i < n) {
        unsigned long v = (unsigned long)src[i] << 16 |
                          (i + 1 < n ? (unsigned long)src[i + 1] << 8 : 0);
        *o++ = abc[v >> 18 & 63];
        *o++ = abc[v >> 12 & 63];
        if (i + 1 < n)
            *o++ = abc[v >> 6 & 63];
        else
            *o++ = '=';
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

/* Sets up a form POST to path with the CSRF token and the XHR headers;
 * http_prepare copies the form, so the caller wipes its own. */
static int post_form(lua_State *L, session *s, const char *label,
                     const char *path, const char *csrf, const char *form,
                     size_t form_len)
{
    http_request rq = {NULL, "POST", NULL, NULL, 0};
    rq.label = label;
    rq.body = form;
    rq.body_len = form_len;
    http_clear_headers(s);
    if (http_add_header(s, "Content-Type",
                        "application/x-www-form-urlencoded; charset=UTF-8") ||
        http_add_header(s, "Accept",
                        "application/json, text/javascript, */*") ||
        http_add_header(s, "X-Requested-With", "XMLHttpRequest") ||
        http_add_header(s, "X-CSRF-Token", csrf))
        return -1;
    rq.url = session_push_url(L, s, path);
    http_prepare(L, s, &rq);
    lua_pop(L, 1);
    return 0;
}

/* The JSON type of the answer's top-level `key` (JSON_NONE when absent or
 * when the body is not JSON). */
static json_type top_type(const session *s, const char *key)
{
    const char *path[1];
    json_value v = {JSON_NONE, 0, NULL, 0};
    json_type t;
    path[0] = key;
    t = json_lookup(s->resp.body, s->resp.body_len, path, 1, &v) == 0
            ? v.type
            : JSON_NONE;
    if (v.str != NULL)
        secret_free(&v.str); /* a session id is a secret */
    json_value_free(&v);
    return t;
}

static int json_true(const session *s, const char *key)
{
    return top_type(s, key) == JSON_TRUE;
}

/* The verdicts both answers share: blocked (said so, or a 429 answering a
 * code), a login no longer under way, a status that is no answer. 0 when
 * the body should be read, else the failure pushed. */
static int common_outcome(lua_State *L, const session *s, const char *label,
                          int validating)
{
    long st = s->resp.status;
    if (json_true(s, "isBlocked") || (st == 429 && validating))
        return push_failure(L, KIND_LOCKED,
                            "%s: blocked after too many attempts (HTTP %d); "
                            "try again later",
                            label, (int)st);
    if (st == 429)
        return push_failure(L, KIND_HTTP,
                            "%s: codes asked for too often (HTTP 429); wait "
                            "before asking again",
                            label);
    if (st == 401 || st == 403 || (st >= 300 && st < 400) ||
        (st >= 200 && st < 300 && login_is_html(s)))
        return push_failure(L, KIND_MFA,
                            "%s: no multi-factor login under way any more "
                            "(HTTP %d): log in again for a new code",
                            label, (int)st);
    if (st < 200 || st >= 300)
        return push_failure(L, KIND_HTTP, "%s: HTTP %d", label, (int)st);
    return 0;
}

static int send_step(lua_State *L, session *s)
{
    static const char form[] = "locale=en";
    int n;
    if (s->xfer.phase == 0) {
        if (post_form(L, s, SEND_POST, "/app-api/generate_mfa_login_otp",
                      check_csrf(L, 2), form, sizeof form - 1) != 0)
            return luaL_error(L, "not enough memory");
        s->xfer.phase = 1;
        return HTTP_TRANSFER;
    }
    n = http_finish(L, s);
    if (n > 0)
        return n;
    n = common_outcome(L, s, SEND_POST, 0);
    if (n > 0)
        return n;
    if (!json_true(s, "success"))
        return push_failure(L, KIND_PROTOCOL,
                            "%s: the answer does not say success", SEND_POST);
    lua_pushboolean(L, 1);
    return 1;
}

int mfa_send(lua_State *L)
{
    session *s = session_check(L, 1);
    check_csrf(L, 2);
    lua_settop(L, 2);
    return http_run(L, s, send_step);
}

/* "email=<b64>&otp=<b64>&xhrFields%5BwithCredentials%5D=true", the base64
 * values form-encoded; malloc'd into *out (wipe it), or -1. */
static int validate_form(session *s, const char *otp, size_t otp_len,
                         char **out, size_t *out_len)
{
    static const char tail[] = "&xhrFields%5BwithCredentials%5D=true";
    char *b64[2] = {NULL, NULL}, *enc[2] = {NULL, NULL};
    size_t total, i;
    int rc = -1;
    b64[0] = base64((const unsigned char *)s->email, s->email_len);
    b64[1] = base64((const unsigned char *)otp, otp_len);
    for (i = 0; i < 2; i++) {
        if (b64[i] == NULL)
            goto cleanup;
        enc[i] = curl_easy_escape(s->curl, b64[i], 0);
        if (enc[i] == NULL)
            goto cleanup;
    }
    total = strlen("email=") + strlen(enc[0]) + strlen("&otp=") +
            strlen(enc[1]) + sizeof tail;
    *out = malloc(total);
    if (*out == NULL)
        goto cleanup;
    *out_len = (size_t)snprintf(*out, total, "email=%s&otp=%s%s", enc[0],
                                enc[1], tail);
    rc = 0;
cleanup:
    for (i = 0; i < 2; i++) {
        if (b64[i] != NULL)
            secret_free(&b64[i]);
        if (enc[i] != NULL) {
            volatile char *p = enc[i];
            while (*p != '\0')
                *p++ = '\0';
            curl_free(enc[i]);
        }
    }
    return rc;
}

static int validate_step(lua_State *L, session *s)
{
    const char *otp;
    size_t otp_len;
    char *form = NULL;
    size_t form_len = 0;
    int n, failed;
    switch (s->xfer.phase) {
    case 0:
        otp = lua_tolstring(L, 3, &otp_len);
        if (validate_form(s, otp, otp_len, &form, &form_len) != 0)
            return luaL_error(L, "not enough memory");
        failed = post_form(L, s, VALIDATE_POST, "/app-api/validate_login_otp",
                           check_csrf(L, 2), form, form_len);
        secret_free_n(&form, form_len);
        if (failed)
            return luaL_error(L, "not enough memory");
        s->xfer.phase = 1;
        return HTTP_TRANSFER;
    case 1:
        n = http_finish(L, s);
        if (n > 0)
            return n;
        n = common_outcome(L, s, VALIDATE_POST, 1);
        if (n > 0)
            return n;
        /* Accepted: isValid true, success true or a session id; a wrong
         * code says isValid false. */
        if (top_type(s, "isValid") == JSON_FALSE ||
            !(json_true(s, "isValid") || json_true(s, "success") ||
              top_type(s, "session_id") == JSON_STRING))
            return push_failure(L, KIND_MFA,
                                "%s: the one-time code was not accepted",
                                VALIDATE_POST);
        login_prepare_jwt(L, s);
        s->xfer.phase = 2;
        return HTTP_TRANSFER;
    default:
        n = login_take_jwt(L, s);
        if (n > 0) {
            if (strcmp(lua_tostring(L, -1), KIND_SESSION) != 0)
                return n;
            lua_pop(L, n);
            return push_failure(L, KIND_MFA,
                                "%s: the code was accepted but no session "
                                "came with it",
                                VALIDATE_POST);
        }
        lua_pushboolean(L, 1);
        return 1;
    }
}

int mfa_validate(lua_State *L)
{
    session *s = session_check(L, 1);
    size_t n, i;
    const char *otp;
    check_csrf(L, 2);
    otp = luaL_checklstring(L, 3, &n);
    for (i = 0; i < n && n <= 16; i++)
        if (otp[i] < '0' || otp[i] > '9')
            break;
    luaL_argcheck(L, n >= 4 && n <= 16 && i == n, 3,
                  "a one-time code is 4 to 16 digits");
    lua_settop(L, 3);
    return http_run(L, s, validate_step);
}
