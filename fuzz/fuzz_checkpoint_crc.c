/* libFuzzer target "checkpoint_crc": see wgf_checkpoint_crc in harness.h. Built and run by make fuzz. */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return wgf_checkpoint_crc(data, size);
}
