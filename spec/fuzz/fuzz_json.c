/* libFuzzer target: json_lookup on any bytes, along several paths. */
#include "json.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static const char *const p1[] = {"token"};
    static const char *const p2[] = {"app", "user", "id"};
    static const char *const p3[] = {"a\xC3\xA9"};
    const char *const *paths[] = {p1, p2, p3, NULL};
    const size_t lens[] = {1, 3, 1, 0};
    size_t i;
    for (i = 0; i < 4; i++) {
        json_value v;
        int rc = json_lookup((const char *)data, size, paths[i], lens[i], &v);
        if (rc != 0 && v.type != JSON_NONE && v.type != JSON_STRING &&
            v.str != NULL)
            __builtin_trap();
        if (v.type == JSON_STRING && (v.str == NULL || v.str[v.len] != '\0'))
            __builtin_trap();
        if (v.type != JSON_STRING && v.str != NULL)
            __builtin_trap();
        json_value_free(&v);
    }
    return 0;
}
