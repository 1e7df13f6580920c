/* libFuzzer target: site_id_from_url and url_is_login_page on any bytes. */
#include "parse.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    int64_t id = 0;
    if (site_id_from_url((const char *)data, size, &id) && id <= 0)
        __builtin_trap();
    (void)url_is_login_page((const char *)data, size);
    return 0;
}
