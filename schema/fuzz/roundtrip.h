/* The property every decoder's fuzz target checks: what decodes encodes,
 * what the encoder writes decodes, and encoding is stable (the second
 * encoding is byte for byte the first). Any break aborts, for libFuzzer. */
#ifndef BRIG_SCHEMA_FUZZ_ROUNDTRIP_H
#define BRIG_SCHEMA_FUZZ_ROUNDTRIP_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema.h"

#define BRIG_FUZZ_ROUNDTRIP(kind)                                                                  \
    static void roundtrip(const uint8_t *data, size_t size)                                        \
    {                                                                                              \
        struct brig_##kind first, second;                                                          \
        struct brig_error err;                                                                     \
        if (brig_##kind##_decode(data, size, &first, &err) < 0) {                                  \
            if (err.reason[0] == '\0')                                                             \
                abort(); /* every refusal says why */                                              \
            return;                                                                                \
        }                                                                                          \
        msgpack_sbuffer once, twice;                                                               \
        msgpack_sbuffer_init(&once);                                                               \
        msgpack_sbuffer_init(&twice);                                                              \
        if (brig_##kind##_encode(&first, &once, &err) < 0 ||                                       \
            brig_##kind##_decode(once.data, once.size, &second, &err) < 0 ||                       \
            brig_##kind##_encode(&second, &twice, &err) < 0) {                                     \
            fprintf(stderr, "round trip refused: %s: %s\n", err.field, err.reason);                \
            abort();                                                                               \
        }                                                                                          \
        if (once.size != twice.size || memcmp(once.data, twice.data, once.size) != 0)              \
            abort();                                                                               \
        brig_##kind##_free(&first);                                                                \
        brig_##kind##_free(&second);                                                               \
        msgpack_sbuffer_destroy(&once);                                                            \
        msgpack_sbuffer_destroy(&twice);                                                           \
    }

#endif
