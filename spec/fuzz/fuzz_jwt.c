/* libFuzzer target: jwt_exp and base64url_decode on any bytes. */
#include "parse.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    const char *why = NULL;
    int64_t exp = -1;
    unsigned char *out;
    size_t outlen = 0;
    if (jwt_exp((const char *)data, size, &exp, &why) == 0) {
        if (exp < 0 || exp > PARSE_EXP_MAX || why != NULL)
            __builtin_trap();
    } else if (why == NULL) {
        __builtin_trap();
    }
    out = malloc(size / 4 * 3 + 3);
    if (out == NULL)
        return 0;
    if (base64url_decode((const char *)data, size, out, &outlen) == 0 &&
        outlen > size / 4 * 3 + 2)
        __builtin_trap();
    free(out);
    return 0;
}
