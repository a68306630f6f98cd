#include "schema/fuzz/roundtrip.h"

BRIG_FUZZ_ROUNDTRIP(runtimes)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    roundtrip(data, size);
    return 0;
}
