/* libFuzzer target "h5data": see wgf_h5data in harness.h. Built and run by make fuzz. */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return wgf_h5data(data, size);
}
