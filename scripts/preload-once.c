/*
 * Preloaded last by scripts/sanitize.sh, after the ASan and UBSan runtimes:
 * once they are loaded into the busted process, LD_PRELOAD is removed from
 * its environment, so the processes the specs start (sh, sed, bash, curl,
 * openssl, luarocks, the simulator, the CLI) run without the runtimes.
 * Only the busted process loads build-asan/enphase/core.so and store.so
 * (bin/enphase loads build/); in the others the runtimes would report those
 * programs' own leaks and slow them down many times.
 */
#include <stdlib.h>

__attribute__((constructor)) static void drop_preload(void)
{
    unsetenv("LD_PRELOAD");
}
