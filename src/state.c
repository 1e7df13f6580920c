/*
 * A session's state in and out (state.h): what the token cache saves
 * between processes. The cookies come from and go to libcurl's cookie
 * engine.
 */
#include "state.h"

#include "compat.h"
#include "errors.h"
#include "http.h"
#include "parse.h"
#include "secret.h"
#include "session.h"
#include "text.h"

#include <stdint.h>
#include <string.h>

/* Most cookies imported from a cache. */
#define COOKIES_MAX 200

static struct curl_slist *cookie_list(session *s)
{
    struct curl_slist *list = NULL;
    if (curl_easy_getinfo(s->curl, CURLINFO_COOKIELIST, &list) != CURLE_OK)
        return NULL;
    return list;
}

#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL

static unsigned long long fnv(unsigned long long h, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n-- > 0)
        h = (h ^ *b++) * FNV_PRIME;
    return h;
}

static unsigned long long fnv_str(unsigned long long h, const char *s)
{
    if (s != NULL)
        h = fnv(h, s, strlen(s));
    return fnv(h, "", 1);
}

/* The counter of s:generation(): bumped when the hash of the state
 * changed since the last call. */
static lua_Integer generation(lua_State *L, session *s)
{
    struct curl_slist *list;
    struct curl_slist *it;
    unsigned long long h = FNV_OFFSET;
    lua_Integer site, user;
    session_ids(L, s, &site, &user);
    h = fnv_str(h, session_push_jwt(L, s, NULL));
    lua_pop(L, 1);
    h = fnv_str(h, s->xsrf);
    h = fnv(h, &site, sizeof site);
    h = fnv(h, &user, sizeof user);
    list = cookie_list(s); /* no Lua call while it is held */
    for (it = list; it != NULL; it = it->next)
        h = fnv_str(h, it->data);
    secret_free_list(list);
    if (h != s->state_hash) {
        s->state_hash = h;
        s->generation++;
    }
    return s->generation;
}

/* s:generation(): grows whenever the JWT, XSRF, ids or cookies changed
 * since the previous call. Kept out of info(), which every request reads:
 * it walks the cookie engine. */
int state_generation(lua_State *L)
{
    session *s = session_check(L, 1);
    lua_pushinteger(L, generation(L, s));
    return 1;
}

/* Copies the cookie engine's lines into buf (NUL-separated, at most cap
 * bytes); returns the bytes they need, so a first call with cap 0 sizes
 * the buffer. No Lua call while the list is held. */
static size_t copy_cookies(session *s, char *buf, size_t cap)
{
    struct curl_slist *list = cookie_list(s), *it;
    size_t need = 0;
    for (it = list; it != NULL; it = it->next) {
        size_t n = strlen(it->data) + 1;
        if (need + n <= cap)
            memcpy(buf + need, it->data, n);
        need += n;
    }
    secret_free_list(list);
    return need;
}

int state_export(lua_State *L)
{
    session *s = session_check(L, 1);
    size_t need, got, off;
    lua_Integer i = 0;
    char *buf;
    lua_Integer exp = 0;
    lua_settop(L, 1);
    lua_createtable(L, 0, 6); /* 2 */
    if (session_push_jwt(L, s, &exp) != NULL) {
        lua_setfield(L, 2, "token");
        lua_pushinteger(L, exp);
        lua_setfield(L, 2, "exp");
    } else {
        lua_pop(L, 1);
    }
    if (s->xsrf != NULL) {
        lua_pushstring(L, s->xsrf);
        lua_setfield(L, 2, "xsrf");
    }
    lua_newtable(L); /* 3: cookies */
    need = copy_cookies(s, NULL, 0);
    buf = lua_newuserdatauv(L, need + 1, 0); /* 4 */
    got = copy_cookies(s, buf, need);
    for (off = 0; got <= need && off < got; off += strlen(buf + off) + 1) {
        lua_pushstring(L, buf + off);
        lua_rawseti(L, 3, ++i);
    }
    secret_wipe(buf, need);
    lua_pop(L, 1);
    lua_setfield(L, 2, "cookies");
    return 1;
}

/* The XSRF token goes into a header too: printable ASCII, no spaces. */
static int header_safe_token(const char *p, size_t n)
{
    return n <= 4096 && text_is_token(p, n);
}

/* Does a cookie for domain d[0..dn) go to host h? Its own host, or a
 * parent domain of it. */
static int domain_matches(const char *d, size_t dn, const char *h)
{
    size_t hn = strlen(h);
    if (hn >= 2 && h[0] == '[' && h[hn - 1] == ']') {
        h++;
        hn -= 2;
    }
    if (dn > 0 && d[0] == '.') {
        d++;
        dn--;
    }
    if (dn == 0)
        return 0;
    if (text_iequal(d, dn, h, hn))
        return 1;
    return hn > dn && h[hn - dn - 1] == '.' &&
           text_iequal(d, dn, h + hn - dn, dn);
}

/* A cookie line as CURLINFO_COOKIELIST gives it: seven tab-separated
 * fields (domain, tailmatch, path, secure, expires, name, value), no other
 * control character. Returns -1 when malformed, 0 when it is for another
 * host, 1 when it may be imported. */
static int cookie_line_ok(const session *s, const char *p, size_t n)
{
    size_t i, tabs = 0, dn;
    const char *d = p;
    if (n == 0 || n > 8192 || strlen(p) != n)
        return -1;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\t')
            tabs++;
        else if (c < 0x20 || c == 0x7F)
            return -1;
    }
    if (tabs != 6)
        return -1;
    if (strncmp(d, "#HttpOnly_", 10) == 0)
        d += 10;
    else if (d[0] == '#')
        return -1;
    dn = strcspn(d, "\t");
    return domain_matches(d, dn, s->base_host) ? 1 : 0;
}

int state_import(lua_State *L)
{
    session *s = session_check(L, 1);
    const char *token, *xsrf = NULL, *why = NULL;
    size_t tlen, xlen = 0, i, ncookies = 0;
    int64_t exp = 0;
    char *xsrf_copy = NULL;

    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    /* Check everything first: a bad field changes nothing. */
    lua_getfield(L, 2, "token"); /* 3: absent for a login under way */
    token = luaL_optlstring(L, 3, NULL, &tlen);
    if (token != NULL && !jwt_is_header_safe(token, tlen))
        return push_failure(L, KIND_INPUT,
                            "import_state: the token is not a JWT");
    if (token != NULL && jwt_exp(token, tlen, &exp, &why) != 0)
        return push_failure(L, KIND_INPUT, "import_state: the token: %s", why);
    lua_getfield(L, 2, "xsrf"); /* 4 */
    if (!lua_isnil(L, 4)) {
        xsrf = luaL_checklstring(L, 4, &xlen);
        if (!header_safe_token(xsrf, xlen))
            return push_failure(
                L, KIND_INPUT,
                "import_state: the XSRF token is not header-safe");
    }
    lua_getfield(L, 2, "cookies"); /* 5 */
    if (!lua_isnil(L, 5)) {
        luaL_checktype(L, 5, LUA_TTABLE);
        ncookies = (size_t)lua_rawlen(L, 5);
        if (ncookies > COOKIES_MAX)
            return push_failure(L, KIND_INPUT,
                                "import_state: more than %d cookies",
                                COOKIES_MAX);
        for (i = 1; i <= ncookies; i++) {
            size_t n;
            const char *line;
            lua_rawgeti(L, 5, (lua_Integer)i);
            if (lua_type(L, -1) != LUA_TSTRING)
                return luaL_error(L,
                                  "import_state: cookies[%I] is not a "
                                  "string",
                                  (lua_Integer)i);
            line = lua_tolstring(L, -1, &n);
            if (cookie_line_ok(s, line, n) < 0)
                return push_failure(
                    L, KIND_INPUT,
                    "import_state: cookies[%I] is not a cookie "
                    "line",
                    (lua_Integer)i);
            lua_pop(L, 1);
        }
    }
    if (xsrf != NULL && secret_set(&xsrf_copy, xsrf, xlen) != 0)
        return luaL_error(L, "not enough memory");

    /* Apply. The JWT goes to its record (no copy here). */
    session_forget_tokens(s);
    s->xsrf = xsrf_copy;
    lua_pushvalue(L, 3);
    session_store_jwt(L, s, (lua_Integer)exp);
    http_clear_cookies(s);
    for (i = 1; i <= ncookies; i++) {
        size_t n;
        const char *line;
        lua_rawgeti(L, 5, (lua_Integer)i);
        line = lua_tolstring(L, -1, &n);
        if (cookie_line_ok(s, line, n) == 1)
            curl_easy_setopt(s->curl, CURLOPT_COOKIELIST, line);
        lua_pop(L, 1);
    }
    lua_pushboolean(L, 1);
    return 1;
}
