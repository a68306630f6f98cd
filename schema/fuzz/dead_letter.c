#include "schema/fuzz/roundtrip.h"

BRIG_FUZZ_ROUNDTRIP(dead_letter)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    roundtrip(data, size);
    return 0;
}
