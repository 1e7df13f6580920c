/*
 * A small JSON writer into a caller's fixed buffer, for the request bodies
 * of the battery operations (battery.c). Pure C: no Lua, no libcurl, no
 * allocation. A write that does not fit, or a value out of place, marks the
 * writer failed; json_writer_finish reports it once at the end.
 */
#ifndef ENPHASE_JSON_WRITER_H
#define ENPHASE_JSON_WRITER_H

#include <stddef.h>

/* Deepest nesting of objects and arrays a writer accepts. */
#define JSON_WRITER_DEPTH 8

typedef struct json_writer {
    char *buf;
    size_t cap, len;
    int failed;
    int depth;
    int count[JSON_WRITER_DEPTH];      /* values written at each level */
    char is_object[JSON_WRITER_DEPTH]; /* the level is an object */
    int after_key; /* a key was written, its value is next */
} json_writer;

/* Starts writing into buf[0..cap). */
void json_writer_init(json_writer *w, char *buf, size_t cap);

void json_writer_begin_object(json_writer *w);
void json_writer_end_object(json_writer *w);
void json_writer_begin_array(json_writer *w);
void json_writer_end_array(json_writer *w);

/* A member's name (inside an object); its value is written next. */
void json_writer_key(json_writer *w, const char *key);

/* A string of n bytes, escaped: quote, backslash and control bytes. */
void json_writer_string(json_writer *w, const char *s, size_t n);
void json_writer_integer(json_writer *w, long long v);
void json_writer_boolean(json_writer *w, int v);

/* NUL-terminates the text; returns its length, or (size_t)-1 when a write
 * did not fit, the nesting is not closed, or a value was out of place. */
size_t json_writer_finish(json_writer *w);

#endif
