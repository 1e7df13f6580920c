/*
 * Parsers for what the Enlighten web site sends back: the login page, JWTs
 * and redirect URLs (JSON bodies: json.h).
 *
 * Pure C: no Lua and no libcurl in parse.c, json.c and text.c, so the
 * libFuzzer targets in spec/fuzz/ link those files alone. Every function takes
 * an explicit length: response bodies are neither NUL-terminated nor trusted.
 */
#ifndef ENPHASE_PARSE_H
#define ENPHASE_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Longest authenticity token accepted (decoded bytes). */
#define PARSE_TOKEN_MAX 1024

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

#endif
