/*
 * A small strict JSON reader: validates a whole document and reports the
 * value found at one key path (json.h).
 */
#include "json.h"

#include <stdlib.h>
#include <string.h>

/* Marks a value that is not on the looked-up path. */
#define OFF_PATH ((size_t)-1)

typedef struct reader {
    const char *s;
    size_t len, pos;
    const char *const *path;
    size_t npath;
    json_value *out;
} reader;

/* Where decoded string bytes go: nowhere, a growing buffer, or a comparison
 * with a key of the path. */
typedef struct sink {
    char *buf;
    size_t len, cap;
    int grow;        /* append to buf */
    const char *cmp; /* compare with cmp[0..cmplen) */
    size_t cmplen;
    int same;
} sink;

static int sink_put(sink *k, const char *p, size_t n)
{
    if (k->grow) {
        if (k->cap - k->len <= n) {
            size_t cap = k->cap ? k->cap : 32;
            char *nb;
            while (cap - k->len <= n) {
                if (cap > (size_t)-1 / 2)
                    return -1;
                cap *= 2;
            }
            nb = realloc(k->buf, cap);
            if (nb == NULL)
                return -1;
            k->buf = nb;
            k->cap = cap;
        }
        memcpy(k->buf + k->len, p, n);
    } else if (k->cmp != NULL && k->same) {
        if (k->len + n > k->cmplen || memcmp(k->cmp + k->len, p, n) != 0)
            k->same = 0;
    }
    k->len += n;
    return 0;
}

static void skip_ws(reader *r)
{
    while (r->pos < r->len) {
        char c = r->s[r->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        r->pos++;
    }
}

static int hex4(reader *r, unsigned long *v)
{
    size_t i;
    *v = 0;
    if (r->len - r->pos < 4)
        return -1;
    for (i = 0; i < 4; i++) {
        char c = r->s[r->pos++];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        *v = (*v << 4) | (unsigned long)d;
    }
    return 0;
}

static int put_codepoint(sink *k, unsigned long cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return sink_put(k, b, n);
}

/* Reads a string at r->pos (the opening quote) into k. */
static int read_string(reader *r, sink *k)
{
    r->pos++;
    for (;;) {
        size_t start = r->pos;
        unsigned long cp, lo;
        char c;
        while (r->pos < r->len && r->s[r->pos] != '"' &&
               r->s[r->pos] != '\\' && (unsigned char)r->s[r->pos] >= 0x20)
            r->pos++;
        if (sink_put(k, r->s + start, r->pos - start) != 0)
            return -1;
        if (r->pos >= r->len || (unsigned char)r->s[r->pos] < 0x20)
            return -1;
        if (r->s[r->pos++] == '"')
            return 0;
        if (r->pos >= r->len)
            return -1;
        c = r->s[r->pos++];
        switch (c) {
        case '"':
        case '\\':
        case '/':
            cp = (unsigned char)c;
            break;
        case 'b':
            cp = '\b';
            break;
        case 'f':
            cp = '\f';
            break;
        case 'n':
            cp = '\n';
            break;
        case 'r':
            cp = '\r';
            break;
        case 't':
            cp = '\t';
            break;
        case 'u':
            if (hex4(r, &cp) != 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
                return -1;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (r->len - r->pos < 2 || r->s[r->pos] != '\\' ||
                    r->s[r->pos + 1] != 'u')
                    return -1;
                r->pos += 2;
                if (hex4(r, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
                    return -1;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            break;
        default:
            return -1;
        }
        if (put_codepoint(k, cp) != 0)
            return -1;
    }
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads a number; sets *isint and *v for an integer that fits in int64. */
static int read_number(reader *r, int *isint, int64_t *v)
{
    int neg = 0, ok = 1;
    uint64_t mag = 0, limit;
    *isint = 1;
    if (r->s[r->pos] == '-') {
        neg = 1;
        r->pos++;
    }
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (r->pos >= r->len || !is_digit(r->s[r->pos]))
        return -1;
    if (r->s[r->pos] == '0') {
        r->pos++;
    } else {
        while (r->pos < r->len && is_digit(r->s[r->pos])) {
            unsigned d = (unsigned)(r->s[r->pos++] - '0');
            if (mag > (limit - d) / 10)
                ok = 0;
            else
                mag = mag * 10 + d;
        }
    }
    if (r->pos < r->len && r->s[r->pos] == '.') {
        *isint = 0;
        r->pos++;
        if (r->pos >= r->len || !is_digit(r->s[r->pos]))
            return -1;
        while (r->pos < r->len && is_digit(r->s[r->pos]))
            r->pos++;
    }
    if (r->pos < r->len && (r->s[r->pos] == 'e' || r->s[r->pos] == 'E')) {
        *isint = 0;
        r->pos++;
        if (r->pos < r->len && (r->s[r->pos] == '+' || r->s[r->pos] == '-'))
            r->pos++;
        if (r->pos >= r->len || !is_digit(r->s[r->pos]))
            return -1;
        while (r->pos < r->len && is_digit(r->s[r->pos]))
            r->pos++;
    }
    if (!ok)
        *isint = 0;
    if (*isint)
        *v = neg ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag)
                 : (int64_t)mag;
    return 0;
}

static int read_literal(reader *r, const char *lit)
{
    size_t n = strlen(lit);
    if (r->len - r->pos < n || memcmp(r->s + r->pos, lit, n) != 0)
        return -1;
    r->pos += n;
    return 0;
}

static int read_value(reader *r, int depth, size_t matched);

static int read_object(reader *r, int depth, size_t matched)
{
    r->pos++;
    skip_ws(r);
    if (r->pos < r->len && r->s[r->pos] == '}') {
        r->pos++;
        return 0;
    }
    for (;;) {
        sink key = {NULL, 0, 0, 0, NULL, 0, 1};
        size_t child = OFF_PATH;
        skip_ws(r);
        if (r->pos >= r->len || r->s[r->pos] != '"')
            return -1;
        if (matched != OFF_PATH && matched < r->npath) {
            key.cmp = r->path[matched];
            key.cmplen = strlen(key.cmp);
        }
        if (read_string(r, &key) != 0)
            return -1;
        if (key.cmp != NULL && key.same && key.len == key.cmplen)
            child = matched + 1;
        skip_ws(r);
        if (r->pos >= r->len || r->s[r->pos] != ':')
            return -1;
        r->pos++;
        if (read_value(r, depth, child) != 0)
            return -1;
        skip_ws(r);
        if (r->pos >= r->len)
            return -1;
        if (r->s[r->pos] == '}') {
            r->pos++;
            return 0;
        }
        if (r->s[r->pos++] != ',')
            return -1;
    }
}

static int read_array(reader *r, int depth)
{
    r->pos++;
    skip_ws(r);
    if (r->pos < r->len && r->s[r->pos] == ']') {
        r->pos++;
        return 0;
    }
    for (;;) {
        if (read_value(r, depth, OFF_PATH) != 0)
            return -1;
        skip_ws(r);
        if (r->pos >= r->len)
            return -1;
        if (r->s[r->pos] == ']') {
            r->pos++;
            return 0;
        }
        if (r->s[r->pos++] != ',')
            return -1;
    }
}

static int read_value(reader *r, int depth, size_t matched)
{
    int capture = matched == r->npath, isint = 0;
    json_value v = {JSON_NONE, 0, NULL, 0};
    skip_ws(r);
    if (r->pos >= r->len)
        return -1;
    switch (r->s[r->pos]) {
    case '{':
    case '[':
        if (depth >= PARSE_JSON_DEPTH)
            return -1;
        if (r->s[r->pos] == '{') {
            v.type = JSON_OBJECT;
            if (read_object(r, depth + 1, matched) != 0)
                return -1;
        } else {
            v.type = JSON_ARRAY;
            if (read_array(r, depth + 1) != 0)
                return -1;
        }
        break;
    case '"': {
        sink k = {NULL, 0, 0, 0, NULL, 0, 1};
        k.grow = capture;
        if (read_string(r, &k) != 0 || (capture && sink_put(&k, "", 1))) {
            free(k.buf);
            return -1;
        }
        v.type = JSON_STRING;
        v.str = k.buf;
        v.len = capture ? k.len - 1 : 0;
        break;
    }
    case 't':
        v.type = JSON_TRUE;
        if (read_literal(r, "true") != 0)
            return -1;
        break;
    case 'f':
        v.type = JSON_FALSE;
        if (read_literal(r, "false") != 0)
            return -1;
        break;
    case 'n':
        v.type = JSON_NULL;
        if (read_literal(r, "null") != 0)
            return -1;
        break;
    default:
        if (read_number(r, &isint, &v.integer) != 0)
            return -1;
        v.type = isint ? JSON_INTEGER : JSON_NUMBER;
        if (!isint)
            v.integer = 0;
    }
    if (capture) {
        json_value_free(r->out);
        *r->out = v;
    }
    return 0;
}

int json_lookup(const char *json, size_t len, const char *const *path,
                size_t npath, json_value *out)
{
    reader r;
    out->type = JSON_NONE;
    out->integer = 0;
    out->str = NULL;
    out->len = 0;
    if (json == NULL)
        return -1;
    r.s = json;
    r.len = len;
    r.pos = 0;
    r.path = path;
    r.npath = npath;
    r.out = out;
    if (read_value(&r, 0, 0) != 0)
        return -1;
    skip_ws(&r);
    return r.pos == r.len ? 0 : -1;
}

void json_value_free(json_value *v)
{
    if (v == NULL)
        return;
    free(v->str);
    v->str = NULL;
    v->len = 0;
    v->type = JSON_NONE;
}
