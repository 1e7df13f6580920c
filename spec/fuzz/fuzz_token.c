/* libFuzzer target: extract_authenticity_token on any bytes. */
#include "parse.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char out[PARSE_TOKEN_MAX + 1];
    size_t n;
    memset(out, 'x', sizeof out);
    n = extract_authenticity_token((const char *)data, size, out, sizeof out);
    if (n > 0 && (n >= sizeof out || out[n] != '\0'))
        __builtin_trap();
    /* A tiny buffer must be respected too. */
    n = extract_authenticity_token((const char *)data, size, out, 4);
    if (n >= 4)
        __builtin_trap();
    return 0;
}
