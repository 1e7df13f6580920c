/*
 * s:discover_site(), s:discover_user() and s:fetch_xsrf(): the seed's
 * discover_ids and get_xsrf.
 */
#include "discover.h"

#include "errors.h"
#include "http.h"
#include "json.h"
#include "login.h"
#include "parse.h"
#include "request.h"
#include "secret.h"
#include "text.h"

#include "compat.h"
#include <string.h>

#define BC "/service/batteryConfig/api/v1"
#define SITE_GET "GET /"

/* The site id (from the site's facts); raises when it is not known. */
static lua_Integer need_site(lua_State *L, const session *s,
                             const char *method)
{
    lua_Integer site = 0;
    session_ids(L, s, &site, NULL);
    if (site <= 0)
        luaL_error(L,
                   "%s: the site id is unknown (discover it and give it to "
                   "the site's facts first)",
                   method);
    return site;
}

/* The scheme, host and port (the scheme's default when absent) of url;
 * 0, or -1 when it is not a URL. Free the parts with curl_free. */
static int url_origin(const char *url, char **scheme, char **host, char **port)
{
    CURLU *u = curl_url();
    int rc = -1;
    *scheme = *host = *port = NULL;
    if (u == NULL)
        return -1;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, port, CURLU_DEFAULT_PORT) == CURLUE_OK)
        rc = 0;
    curl_url_cleanup(u);
    return rc;
}

/* May a redirect of discover_site go to url? Only to base_url's host and
 * port (the session's cookies are not bound to a port), and never from
 * https down to http. */
static int redirect_allowed(const session *s, const char *url)
{
    char *scheme = NULL, *host = NULL, *port = NULL;
    char *bscheme = NULL, *bhost = NULL, *bport = NULL;
    int ok = url_origin(url, &scheme, &host, &port) == 0 &&
             url_origin(s->base_url, &bscheme, &bhost, &bport) == 0 &&
             text_iequal(host, strlen(host), bhost, strlen(bhost)) &&
             strcmp(port, bport) == 0 &&
             (strcmp(bscheme, "https") != 0 || strcmp(scheme, "https") == 0);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(bscheme);
    curl_free(bhost);
    curl_free(bport);
    return ok;
}

/* The site id from where GET / ended. */
static int site_found(lua_State *L, session *s)
{
    const char *final =
        s->resp.effective_url ? s->resp.effective_url : s->base_url;
    long st = s->resp.status;
    int64_t id = 0;
    if (site_id_from_url(final, strlen(final), &id) && id <= ENPHASE_ID_MAX) {
        lua_pushinteger(L, (lua_Integer)id); /* the caller records it */
        return 1;
    }
    if (url_is_login_page(final, strlen(final)))
        return push_failure(L, KIND_SESSION,
                            "%s: not logged in (redirected to /login)",
                            SITE_GET);
    if (st < 200 || st >= 300)
        return push_failure(L, KIND_HTTP, "%s: HTTP %d", SITE_GET, (int)st);
    lua_pushlstring(L, final, strcspn(final, "?#"));
    return push_failure(L, KIND_PROTOCOL, "%s: no site id in the final URL %s",
                        SITE_GET, lua_tostring(L, -1));
}

/* GET / and each redirect, one transfer per phase 1 round. */
static int site_step(lua_State *L, session *s)
{
    http_request rq = {SITE_GET, "GET", NULL, NULL, 0};
    long st;
    int n;
    if (s->xfer.phase == 0) {
        rq.url = session_push_url(L, s, "/");
    } else {
        n = http_finish(L, s);
        if (n > 0)
            return n;
        st = s->resp.status;
        if (st < 300 || st >= 400 || s->resp.location == NULL)
            return site_found(L, s);
        if (s->xfer.hops++ >= s->max_redirs)
            return push_failure(L, KIND_PROTOCOL, "%s: more than %d redirects",
                                SITE_GET, (int)s->max_redirs);
        if (!redirect_allowed(s, s->resp.location))
            return push_failure(L, KIND_PROTOCOL,
                                "%s: refusing a redirect away from %s",
                                SITE_GET, s->base_host);
        rq.url = lua_pushstring(L, s->resp.location);
    }
    http_clear_headers(s);
    http_prepare(L, s, &rq);
    lua_pop(L, 1);
    s->xfer.phase = 1;
    return HTTP_TRANSFER;
}

int discover_site(lua_State *L)
{
    session *s = session_check(L, 1);
    lua_settop(L, 1);
    return http_run(L, s, site_step);
}

/* The user id at one of the seed's paths; 0 when none is a positive
 * integer, -1 when the body is not JSON. */
static int find_user_id(const session *s, int64_t *id)
{
    static const char *const p1[] = {"app", "userId"};
    static const char *const p2[] = {"app", "user_id"};
    static const char *const p3[] = {"app", "user", "id"};
    static const char *const *const paths[] = {p1, p2, p3};
    static const size_t lens[] = {2, 2, 3};
    size_t i;
    for (i = 0; i < 3; i++) {
        json_value v;
        int rc =
            json_lookup(s->resp.body, s->resp.body_len, paths[i], lens[i], &v);
        json_type t = v.type;
        int64_t n = v.integer;
        json_value_free(&v);
        if (rc != 0)
            return -1;
        if (t == JSON_INTEGER && n > 0) {
            *id = n;
            return 1;
        }
    }
    return 0;
}

/* GET data.json: the user id (and the body, for the time zone). */
static int user_step(lua_State *L, session *s)
{
    http_request rq = {NULL, "GET", NULL, NULL, 0};
    const char *label;
    int64_t id = 0;
    long st;
    int n;
    if (s->xfer.phase == 0) {
        lua_Integer site = need_site(L, s, "discover_user");
        rq.label = lua_pushfstring(L, "GET /app-api/%I/data.json", site);
        rq.url = lua_pushfstring(L,
                                 "%s/app-api/%I/data.json?app=1&device_status="
                                 "non_retired&is_mobile=0",
                                 s->base_url, site);
        http_clear_headers(s);
        http_prepare(L, s, &rq);
        lua_pop(L, 2);
        s->xfer.phase = 1;
        return HTTP_TRANSFER;
    }
    n = http_finish(L, s);
    if (n > 0)
        return n;
    label = s->xfer.label;
    st = s->resp.status;
    if ((st >= 300 && st < 400) || st == 401)
        return push_failure(L, KIND_SESSION, "%s: not logged in (HTTP %d)",
                            label, (int)st);
    if (st < 200 || st >= 300)
        return push_failure(L, KIND_HTTP, "%s: HTTP %d", label, (int)st);
    if (login_is_html(s))
        return push_failure(L, KIND_SESSION,
                            "%s: not logged in (got an HTML page)", label);
    n = find_user_id(s, &id);
    if (n < 0)
        return push_failure(L, KIND_PROTOCOL, "%s: the answer is not JSON",
                            label);
    if (n == 0)
        return push_failure(L, KIND_PROTOCOL,
                            "%s: no numeric app.userId, app.user_id or "
                            "app.user.id",
                            label);
    if (id > ENPHASE_ID_MAX)
        return push_failure(
            L, KIND_PROTOCOL,
            "%s: app.userId beyond 2^53: not exact in this Lua", label);
    lua_pushinteger(L, (lua_Integer)id); /* the caller records it */
    lua_pushlstring(L, s->resp.body, s->resp.body_len);
    return 2;
}

int discover_user(lua_State *L)
{
    session *s = session_check(L, 1);
    lua_settop(L, 1);
    return http_run(L, s, user_step);
}

/* The isValid POST without a token: the BP-XSRF-Token cookie comes back. */
static int xsrf_step(lua_State *L, session *s)
{
    static const char body[] = "{\"scheduleType\":\"dtg\"}";
    http_request rq = {NULL, "POST", NULL, body, sizeof body - 1};
    const char *path;
    int n;
    if (s->xfer.phase == 0) {
        lua_Integer site = need_site(L, s, "fetch_xsrf");
        path =
            lua_pushfstring(L, BC "/battery/sites/%I/schedules/isValid", site);
        rq.label = lua_pushfstring(L, "POST %s", path);
        rq.url = session_push_url(L, s, path);
        secret_free(&s->xsrf);
        if (request_api_headers(L, s, 0) != 0)
            return luaL_error(L, "not enough memory");
        http_prepare(L, s, &rq);
        lua_pop(L, 3);
        s->xfer.phase = 1;
        return HTTP_TRANSFER;
    }
    n = http_finish(L, s);
    if (n > 0)
        return n;
    if (s->resp.status == 401)
        return push_failure(L, KIND_HTTP, "%s: HTTP 401", s->xfer.label);
    if (s->xsrf == NULL)
        return push_failure(L, KIND_PROTOCOL,
                            "%s: no BP-XSRF-Token cookie came back (HTTP %d)",
                            s->xfer.label, (int)s->resp.status);
    lua_pushboolean(L, 1);
    return 1;
}

int discover_xsrf(lua_State *L)
{
    session *s = session_check(L, 1);
    lua_settop(L, 1);
    return http_run(L, s, xsrf_step);
}
