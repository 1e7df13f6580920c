/*
 * ASCII helpers (text.h).
 */
#include "text.h"

int text_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

int text_is_alnum(int c)
{
    c = text_lower(c);
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z');
}

int text_iequal(const char *a, size_t an, const char *b, size_t bn)
{
    size_t i;
    if (an != bn)
        return 0;
    for (i = 0; i < an; i++)
        if (text_lower((unsigned char)a[i]) != text_lower((unsigned char)b[i]))
            return 0;
    return 1;
}

int text_is_token(const char *p, size_t n)
{
    size_t i;
    if (n == 0)
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7F)
            return 0;
    return 1;
}
