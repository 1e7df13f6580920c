/*
 * The table of enphase.precompiled, generated at build time by
 * scripts/precompile.lua: each Lua file of the library and the CLI, byte
 * for byte, and its bytecode for the Lua the module is built for.
 */
#ifndef ENPHASE_PRECOMPILED_H
#define ENPHASE_PRECOMPILED_H

#include <stddef.h>

struct precompiled_chunk {
    const char *name;            /* as given to require: "enphase.client" */
    const unsigned char *source; /* the file as it was built */
    size_t source_len;
    const unsigned char *bytecode; /* string.dump of that file */
    size_t bytecode_len;
};

extern const struct precompiled_chunk precompiled_chunks[];
extern const size_t precompiled_chunk_count;

#endif
