/*
 * Secrets in C memory (secret.h).
 */
#include "secret.h"

#include <stdlib.h>
#include <string.h>

void secret_wipe(char *p, size_t n)
{
    volatile char *v = p;
    while (n-- > 0)
        *v++ = '\0';
}

void secret_free(char **p)
{
    if (*p != NULL) {
        volatile char *v = *p;
        while (*v != '\0')
            *v++ = '\0';
        free(*p);
        *p = NULL;
    }
}

void secret_free_n(char **p, size_t n)
{
    if (*p != NULL) {
        secret_wipe(*p, n);
        free(*p);
        *p = NULL;
    }
}

int secret_set(char **dst, const char *src, size_t n)
{
    char *c = malloc(n + 1);
    if (c == NULL)
        return -1;
    memcpy(c, src, n);
    c[n] = '\0';
    secret_free(dst);
    *dst = c;
    return 0;
}

void secret_free_list(struct curl_slist *l)
{
    struct curl_slist *it;
    for (it = l; it != NULL; it = it->next)
        if (it->data != NULL)
            secret_wipe(it->data, strlen(it->data));
    curl_slist_free_all(l);
}
