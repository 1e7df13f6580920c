/*
 * Secrets in C memory (password, JWT, XSRF token, cookies, the login form):
 * copies that are overwritten before they are freed.
 */
#ifndef ENPHASE_SECRET_H
#define ENPHASE_SECRET_H

#include <curl/curl.h>
#include <stddef.h>

/* Overwrites p[0..n) (the compiler may not drop it). */
void secret_wipe(char *p, size_t n);

/* Frees a NUL-terminated string holding a secret after overwriting it;
 * sets *p to NULL. */
void secret_free(char **p);

/* Like secret_free for a buffer of n bytes that may hold NULs. */
void secret_free_n(char **p, size_t n);

/* Replaces *dst (freed with secret_free) with a malloc'd copy of
 * src[0..n) and a NUL; returns 0, or -1 when out of memory (*dst is then
 * unchanged). */
int secret_set(char **dst, const char *src, size_t n);

/* Overwrites then frees a libcurl list that may carry secrets (request
 * headers, the cookie engine's lines). */
void secret_free_list(struct curl_slist *l);

#endif
