/* libFuzzer target "idx_gz": see wgf_idx_gz in harness.h. Built and run by make fuzz. */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return wgf_idx_gz(data, size);
}
