/*
 * The JSON writer of json_writer.h.
 */
#include "json_writer.h"

#include <stdio.h>
#include <string.h>

void json_writer_init(json_writer *w, char *buf, size_t cap)
{
    memset(w, 0, sizeof *w);
    w->buf = buf;
    w->cap = cap;
    w->failed = cap == 0;
}

/* Appends n bytes, keeping one byte for the final NUL. */
static void put(json_writer *w, const char *p, size_t n)
{
    if (w->failed)
        return;
    if (w->cap - w->len <= n) {
        w->failed = 1;
        return;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

/* Before a value or a key: the comma between siblings. Inside an object
 * each value follows its key; keys appear only in objects; one value at
 * the top. */
static void separate(json_writer *w, int is_key)
{
    if (w->after_key) {
        if (is_key)
            w->failed = 1;
        w->after_key = 0;
        return;
    }
    if (is_key != w->is_object[w->depth] || (w->depth == 0 && w->count[0] > 0))
        w->failed = 1;
    if (w->count[w->depth]++ > 0)
        put(w, ",", 1);
}

static void begin(json_writer *w, char open)
{
    separate(w, 0);
    if (w->depth + 1 >= JSON_WRITER_DEPTH) {
        w->failed = 1;
        return;
    }
    put(w, &open, 1);
    w->depth++;
    w->count[w->depth] = 0;
    w->is_object[w->depth] = (char)(open == '{' ? 1 : 0);
}

static void end(json_writer *w, char close)
{
    if (w->depth == 0 || w->after_key) {
        w->failed = 1;
        return;
    }
    w->depth--;
    put(w, &close, 1);
}

void json_writer_begin_object(json_writer *w)
{
    begin(w, '{');
}

void json_writer_end_object(json_writer *w)
{
    end(w, '}');
}

void json_writer_begin_array(json_writer *w)
{
    begin(w, '[');
}

void json_writer_end_array(json_writer *w)
{
    end(w, ']');
}

static void quoted(json_writer *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, start = 0;
    put(w, "\"", 1);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(w, s + start, i - start);
        start = i + 1;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(w, esc, 2);
        } else {
            esc[0] = '\\';
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            put(w, esc, 6);
        }
    }
    put(w, s + start, n - start);
    put(w, "\"", 1);
}

void json_writer_key(json_writer *w, const char *key)
{
    separate(w, 1);
    quoted(w, key, strlen(key));
    put(w, ":", 1);
    w->after_key = 1;
}

void json_writer_string(json_writer *w, const char *s, size_t n)
{
    separate(w, 0);
    quoted(w, s, n);
}

void json_writer_integer(json_writer *w, long long v)
{
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%lld", v);
    separate(w, 0);
    if (n < 0 || (size_t)n >= sizeof digits)
        w->failed = 1;
    else
        put(w, digits, (size_t)n);
}

void json_writer_boolean(json_writer *w, int v)
{
    separate(w, 0);
    if (v)
        put(w, "true", 4);
    else
        put(w, "false", 5);
}

size_t json_writer_finish(json_writer *w)
{
    if (w->failed || w->depth != 0 || w->after_key || w->count[0] != 1)
        return (size_t)-1;
    w->buf[w->len] = '\0';
    return w->len;
}
