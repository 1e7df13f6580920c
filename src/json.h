/*
 * A strict JSON reader that finds one value in a response body. Pure C
 * (see parse.h).
 */
#ifndef ENPHASE_JSON_H
#define ENPHASE_JSON_H

#include <stddef.h>
#include <stdint.h>

/* Deepest JSON nesting accepted by json_lookup. */
#define PARSE_JSON_DEPTH 64

/* JSON value types reported by json_lookup. */
typedef enum json_type {
    JSON_NONE = 0, /* path not found */
    JSON_NULL,
    JSON_FALSE,
    JSON_TRUE,
    JSON_INTEGER, /* an integer literal that fits in int64 */
    JSON_NUMBER,  /* any other number (fraction, exponent, too big) */
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT
} json_type;

typedef struct json_value {
    json_type type;
    int64_t integer; /* JSON_INTEGER */
    char *str;       /* JSON_STRING: decoded UTF-8, NUL-terminated, malloc'd */
    size_t len;      /* JSON_STRING: length without the NUL */
} json_value;

/*
 * Parses the whole document (strictly: RFC 8259, nesting at most
 * PARSE_JSON_DEPTH) and reports the value at path (object keys, outermost
 * first; a repeated key: the last one wins). Returns 0 when the document is
 * valid (out->type is JSON_NONE when the path is absent), -1 when it is not
 * JSON or memory ran out. Free out with json_value_free in both cases.
 */
int json_lookup(const char *json, size_t len, const char *const *path,
                size_t npath, json_value *out);

void json_value_free(json_value *v);

#endif
