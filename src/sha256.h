/*
 * SHA-256 (FIPS 180-4). Pure C. The token cache names its files by the
 * digest of base URL and e-mail (lua/enphase/account/cache.lua).
 */
#ifndef ENPHASE_SHA256_H
#define ENPHASE_SHA256_H

#include <stddef.h>

/* Writes the digest of p[0..n) as 64 lower-case hex digits and a NUL. */
void sha256_hex(const void *p, size_t n, char hex[65]);

#endif
