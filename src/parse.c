/*
 * Parsers for the login page, JWTs and redirect URLs. Pure C (see parse.h);
 * the JSON reader is in json.c.
 */
#include "parse.h"

#include "json.h"
#include "text.h"

#include <stdlib.h>
#include <string.h>

static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* Case-insensitive: does s[0..n) equal the lower-case literal lit? */
static int ieq(const char *s, size_t n, const char *lit)
{
    size_t i;
    if (strlen(lit) != n)
        return 0;
    for (i = 0; i < n; i++)
        if (text_lower((unsigned char)s[i]) != lit[i])
            return 0;
    return 1;
}

/* Case-insensitive prefix test of s[0..n) against a lower-case literal. */
static int istarts(const char *s, size_t n, const char *lit)
{
    size_t m = strlen(lit);
    return n >= m && ieq(s, m, lit);
}

/* ------------------------------------------------------------------ */
/* HTML: the login form's authenticity token                           */
/* ------------------------------------------------------------------ */

typedef struct span {
    const char *p;
    size_t n;
    int set;
} span;

/* Appends the UTF-8 encoding of cp to out; returns bytes written (0: no
 * room). */
static size_t put_utf8(unsigned long cp, char *out, size_t room)
{
    size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (n > room)
        return 0;
    if (n == 1) {
        out[0] = (char)cp;
    } else if (n == 2) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
    } else if (n == 3) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
    } else {
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
    }
    return n;
}

/* Decodes the numeric entity body after "&#" up to ';'. Returns the code
 * point, or 0 when it is not a valid character reference. */
static unsigned long numeric_entity(const char *s, size_t n)
{
    unsigned long cp = 0;
    size_t i = 0;
    int hex = 0, digits = 0;
    if (n > 0 && (s[0] == 'x' || s[0] == 'X')) {
        hex = 1;
        i = 1;
    }
    for (; i < n; i++) {
        int c = text_lower((unsigned char)s[i]), d;
        if (is_digit(c))
            d = c - '0';
        else if (hex && c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else
            return 0;
        cp = cp * (hex ? 16 : 10) + (unsigned long)d;
        if (cp > 0x10FFFF)
            return 0;
        digits++;
    }
    if (digits == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return cp;
}

/* Decodes HTML entities of s[0..n) into out (cap bytes, NUL-terminated).
 * Unknown or malformed entities are copied as they are. Returns the length,
 * or 0 when the result does not fit. */
static size_t decode_entities(const char *s, size_t n, char *out, size_t cap)
{
    static const struct {
        const char *name;
        char c;
    } named[] = {
        {"amp", '&'}, {"quot", '"'}, {"apos", '\''}, {"lt", '<'}, {"gt", '>'}};
    size_t i = 0, o = 0;
    if (cap == 0)
        return 0;
    while (i < n) {
        size_t w = 0;
        if (s[i] == '&') {
            const char *semi = memchr(s + i, ';', n - i < 12 ? n - i : 12);
            if (semi != NULL) {
                const char *body = s + i + 1;
                size_t bn = (size_t)(semi - body), k;
                if (bn > 1 && body[0] == '#') {
                    unsigned long cp = numeric_entity(body + 1, bn - 1);
                    if (cp != 0) {
                        w = put_utf8(cp, out + o, cap - 1 - o);
                        if (w == 0)
                            return 0;
                    }
                } else {
                    for (k = 0; k < sizeof named / sizeof named[0]; k++) {
                        if (bn == strlen(named[k].name) &&
                            memcmp(body, named[k].name, bn) == 0) {
                            if (o + 1 >= cap)
                                return 0;
                            out[o] = named[k].c;
                            w = 1;
                            break;
                        }
                    }
                }
                if (w > 0) {
                    o += w;
                    i += bn + 2;
                    continue;
                }
            }
        }
        if (o + 1 >= cap)
            return 0;
        out[o++] = s[i++];
    }
    out[o] = '\0';
    return o;
}

/*
 * Parses the attributes of a tag from s[*pos] (just after the tag name) to
 * its closing '>', keeping the first value of attributes k1 and k2.
 */
static void tag_attrs(const char *s, size_t len, size_t *pos, const char *k1,
                      span *v1, const char *k2, span *v2)
{
    size_t i = *pos;
    while (i < len) {
        size_t ns, ne;
        span v = {NULL, 0, 1};
        while (i < len && (is_space((unsigned char)s[i]) || s[i] == '/'))
            i++;
        if (i >= len)
            break;
        if (s[i] == '>') {
            i++;
            break;
        }
        ns = i;
        while (i < len && !is_space((unsigned char)s[i]) && s[i] != '=' &&
               s[i] != '>')
            i++;
        ne = i;
        if (ne == ns) { /* a stray '=' */
            i++;
            continue;
        }
        while (i < len && is_space((unsigned char)s[i]))
            i++;
        v.p = s + i;
        if (i < len && s[i] == '=') {
            i++;
            while (i < len && is_space((unsigned char)s[i]))
                i++;
            if (i < len && (s[i] == '"' || s[i] == '\'')) {
                const char *end = memchr(s + i + 1, s[i], len - i - 1);
                v.p = s + i + 1;
                v.n = end ? (size_t)(end - v.p) : len - i - 1;
                i = end ? (size_t)(end - s) + 1 : len;
            } else {
                v.p = s + i;
                while (i < len && !is_space((unsigned char)s[i]) &&
                       s[i] != '>')
                    i++;
                v.n = (size_t)(s + i - v.p);
            }
        }
        if (!v1->set && ieq(s + ns, ne - ns, k1))
            *v1 = v;
        else if (!v2->set && ieq(s + ns, ne - ns, k2))
            *v2 = v;
    }
    *pos = i;
}

size_t extract_authenticity_token(const char *html, size_t len, char *out,
                                  size_t outcap)
{
    span meta = {NULL, 0, 0};
    size_t i = 0;
    if (html == NULL || out == NULL || outcap == 0)
        return 0;
    while (i < len) {
        const char *lt = memchr(html + i, '<', len - i);
        size_t ts, te;
        if (lt == NULL)
            break;
        i = (size_t)(lt - html) + 1;
        if (istarts(html + i, len - i, "!--")) { /* skip a comment */
            size_t j;
            for (j = i + 3; j + 3 <= len; j++)
                if (memcmp(html + j, "-->", 3) == 0)
                    break;
            i = j + 3;
            continue;
        }
        ts = i;
        while (i < len && text_is_alnum((unsigned char)html[i]))
            i++;
        te = i;
        if (i < len && !is_space((unsigned char)html[i]) && html[i] != '/' &&
            html[i] != '>')
            continue;
        if (ieq(html + ts, te - ts, "input")) {
            span name = {NULL, 0, 0}, value = {NULL, 0, 0};
            tag_attrs(html, len, &i, "name", &name, "value", &value);
            if (name.set && value.set && value.n > 0 &&
                name.n == strlen("authenticity_token") &&
                memcmp(name.p, "authenticity_token", name.n) == 0) {
                size_t n = decode_entities(value.p, value.n, out, outcap);
                if (n > 0)
                    return n;
            }
        } else if (ieq(html + ts, te - ts, "meta") && !meta.set) {
            span name = {NULL, 0, 0}, content = {NULL, 0, 0};
            tag_attrs(html, len, &i, "name", &name, "content", &content);
            if (name.set && content.set && content.n > 0 &&
                ieq(name.p, name.n, "csrf-token"))
                meta = content;
        }
    }
    if (meta.set)
        return decode_entities(meta.p, meta.n, out, outcap);
    return 0;
}

/* ------------------------------------------------------------------ */
/* base64url and JWTs                                                  */
/* ------------------------------------------------------------------ */

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (is_digit(c))
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int base64url_decode(const char *in, size_t len, unsigned char *out,
                     size_t *outlen)
{
    size_t pad = 0, n, i, o = 0;
    unsigned long acc = 0;
    int bits = 0;
    while (pad < len && in[len - 1 - pad] == '=')
        pad++;
    n = len - pad;
    if (n % 4 == 1 || pad > 2)
        return -1;
    if (pad > 0 && (len % 4 != 0 || n % 4 == 0))
        return -1;
    for (i = 0; i < n; i++) {
        int v = b64val((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = ((acc << 6) | (unsigned long)v) & 0xFFFFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)((acc >> bits) & 0xFF);
        }
    }
    *outlen = o;
    return 0;
}

/* Longest JWT accepted, in bytes. */
#define JWT_MAX 16384

static int jwt_char(int c)
{
    return b64val(c) >= 0 || c == '=';
}

int jwt_is_header_safe(const char *p, size_t n)
{
    size_t i;
    if (p == NULL || n == 0 || n > JWT_MAX)
        return 0;
    for (i = 0; i < n; i++)
        if (!jwt_char((unsigned char)p[i]) && p[i] != '.')
            return 0;
    return 1;
}

int jwt_exp(const char *jwt, size_t len, int64_t *exp, const char **why)
{
    static const char *const path[] = {"exp"};
    const char *d1 = NULL, *d2 = NULL;
    unsigned char *payload = NULL;
    size_t i, plen = 0;
    json_value v = {JSON_NONE, 0, NULL, 0};
    int rc = -1;

    *why = "not a JWT (expected three dot-separated base64url parts)";
    if (jwt == NULL || len == 0 || len > JWT_MAX)
        goto cleanup;
    for (i = 0; i < len; i++) {
        if (jwt[i] == '.') {
            if (d2 != NULL)
                goto cleanup;
            if (d1 == NULL)
                d1 = jwt + i;
            else
                d2 = jwt + i;
        } else if (!jwt_char((unsigned char)jwt[i])) {
            goto cleanup;
        }
    }
    if (d1 == NULL || d2 == NULL || d1 == jwt || d2 == d1 + 1)
        goto cleanup;
    payload = malloc((size_t)(d2 - d1) / 4 * 3 + 3);
    if (payload == NULL) {
        *why = "not enough memory";
        goto cleanup;
    }
    *why = "JWT payload is not valid base64url";
    if (base64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), payload, &plen) != 0)
        goto cleanup;
    *why = "JWT payload is not JSON";
    if (json_lookup((const char *)payload, plen, path, 1, &v) != 0)
        goto cleanup;
    *why = "JWT payload has no numeric exp";
    if (v.type != JSON_INTEGER && v.type != JSON_NUMBER)
        goto cleanup;
    *why = "JWT exp is not an integer in range";
    if (v.type != JSON_INTEGER || v.integer < 0 || v.integer > PARSE_EXP_MAX)
        goto cleanup;
    *exp = v.integer;
    *why = NULL;
    rc = 0;
cleanup:
    json_value_free(&v);
    free(payload);
    return rc;
}

/* ------------------------------------------------------------------ */
/* URLs                                                                */
/* ------------------------------------------------------------------ */

/* Finds the path of url: after "scheme://authority" when there is one, up
 * to '?' or '#'. */
static void url_path(const char *url, size_t len, size_t *start, size_t *end)
{
    size_t i, s = 0;
    for (i = 0; i < len; i++) {
        char c = url[i];
        if (c == '/' || c == '?' || c == '#')
            break;
        if (c == ':') {
            if (i + 2 < len && url[i + 1] == '/' && url[i + 2] == '/') {
                s = i + 3;
                while (s < len && url[s] != '/' && url[s] != '?' &&
                       url[s] != '#')
                    s++;
            }
            break;
        }
    }
    i = s;
    while (i < len && url[i] != '?' && url[i] != '#')
        i++;
    *start = s;
    *end = i;
}

int site_id_from_url(const char *url, size_t len, int64_t *id)
{
    static const char *const prefixes[] = {"/web/", "/pv/systems/",
                                           "/systems/"};
    size_t s, e, p, k;
    if (url == NULL)
        return 0;
    url_path(url, len, &s, &e);
    for (p = s; p < e; p++) {
        if (url[p] != '/')
            continue;
        for (k = 0; k < sizeof prefixes / sizeof prefixes[0]; k++) {
            size_t m = strlen(prefixes[k]), q;
            int64_t v = 0;
            int ok = 1;
            if (e - p < m || memcmp(url + p, prefixes[k], m) != 0)
                continue;
            for (q = p + m; q < e && is_digit((unsigned char)url[q]); q++) {
                int d = url[q] - '0';
                if (v > (INT64_MAX - d) / 10)
                    ok = 0;
                else
                    v = v * 10 + d;
            }
            if (q == p + m || !ok || v <= 0)
                continue;
            if (q < e && url[q] != '/' && url[q] != ';')
                continue;
            *id = v;
            return 1;
        }
    }
    return 0;
}

int url_is_login_page(const char *url, size_t len)
{
    size_t s, e;
    if (url == NULL)
        return 0;
    url_path(url, len, &s, &e);
    return (e - s == 6 && memcmp(url + s, "/login", 6) == 0) ||
           (e - s > 6 && memcmp(url + s, "/login/", 7) == 0);
}
