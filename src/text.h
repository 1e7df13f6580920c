/*
 * ASCII helpers for bytes from the network: case folding, host names
 * compared without regard to case, header-safe tokens. Pure C: no Lua and
 * no libcurl, so the parsers and their fuzz targets link it too.
 */
#ifndef ENPHASE_TEXT_H
#define ENPHASE_TEXT_H

#include <stddef.h>

/* c with A-Z folded to a-z (c is an unsigned char value or EOF). */
int text_lower(int c);

/* True for 0-9, a-z and A-Z. */
int text_is_alnum(int c);

/* True when a[0..an) and b[0..bn) are the same bytes, ASCII letters
 * compared without regard to case (host names, header names). */
int text_iequal(const char *a, size_t an, const char *b, size_t bn);

/* True when p[0..n) is not empty and is printable ASCII without spaces: a
 * value that may go into a request header as it is (the XSRF token). */
int text_is_token(const char *p, size_t n);

#endif
