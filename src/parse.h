/*
 * Parsers for what the Enlighten web site sends back: the login page, JWTs,
 * redirect URLs and JSON bodies.
 *
 * Pure C: no Lua and no libcurl in parse.c and json.c, so the libFuzzer
 * targets in spec/fuzz/ link those two files alone. Every function takes an
 * explicit length: response bodies are neither NUL-terminated nor trusted.
 */
#ifndef ENPHASE_PARSE_H
#define ENPHASE_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Longest authenticity token accepted (decoded bytes). */
#define PARSE_TOKEN_MAX 1024

/* Deepest JSON nesting accepted by json_lookup. */
#define PARSE_JSON_DEPTH 64

/* Largest JWT `exp` accepted: 9999-12-31T23:59:59Z. */
#define PARSE_EXP_MAX INT64_C(253402300799)

/*
 * Finds the login form's authenticity token: the first
 * <input name="authenticity_token" value="..."> (attributes in any order,
 * either quote style or none), else the first <meta name="csrf-token"
 * content="...">. HTML entities in the value are decoded. Writes at most
 * outcap - 1 bytes plus a NUL to out. Returns the token length, or 0 when
 * there is none (an empty or longer-than-outcap value counts as none).
 */
size_t extract_authenticity_token(const char *html, size_t len, char *out,
                                  size_t outcap);

/*
 * Decodes base64url (alphabet A-Z a-z 0-9 - _), with or without '='
 * padding. out needs room for (len / 4 + 1) * 3 bytes. Returns 0 and the
 * decoded length in *outlen, or -1 on a bad character, bad padding or a bad
 * length.
 */
int base64url_decode(const char *in, size_t len, unsigned char *out,
                     size_t *outlen);

/*
 * Reads the top-level integer `exp` of a JWT's payload. Returns 0 and sets
 * *exp, or -1 and sets *why to a static English reason.
 */
int jwt_exp(const char *jwt, size_t len, int64_t *exp, const char **why);

/*
 * True when p[0..n) may go into a request header as a JWT: base64url
 * characters, dots and padding only, at most JWT_MAX bytes.
 */
int jwt_is_header_safe(const char *p, size_t n);

/*
 * Finds the site id in a URL's path: the first /web/<digits>,
 * /pv/systems/<digits> or /systems/<digits> whose digits end the path or are
 * followed by '/', '?', '#' or ';'. Returns 1 and sets *id (> 0, fits in
 * int64), or 0.
 */
int site_id_from_url(const char *url, size_t len, int64_t *id);

/* True when url's path is /login or below it (/login?..., /login/...). */
int url_is_login_page(const char *url, size_t len);

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
