/* The fuzz harnesses: one function per parser of outside data, shared by
 * the libFuzzer targets (fuzz/fuzz_*.c, built with clang and sanitizers by
 * `make fuzz`) and by fuzz/replay (built like the tests, run by make
 * check on every committed corpus and regression input).
 *
 * Each takes the fuzzer's bytes, hands them to the library as a file (the
 * API takes paths), and checks what the library promises: a status, a
 * loaded data set whose fields describe exactly the memory it owns, a
 * failed checkpoint load that changes nothing, no HDF5 handle left open.
 * A broken promise aborts, which both libFuzzer and replay see as a
 * crash. */
#ifndef WG_FUZZ_HARNESS_H
#define WG_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

typedef int (*wgf_fn)(const uint8_t *data, size_t size);

/* The IDX reader: the bytes as an image file, then as a label file. gzip
 * input (from the gzip seeds) goes through zlib as the reader finds it. */
int wgf_idx(const uint8_t *data, size_t size);
/* The IDX reader's gzip path: the bytes are gzip-compressed here first
 * (two members when the size is odd), so structured mutants of the IDX
 * content reach the parser through zlib. */
int wgf_idx_gz(const uint8_t *data, size_t size);
/* The HDF5 data set reader (wg_h5_dataset_load): the bytes as the file.
 * Every input reaches libhdf5. */
int wgf_h5data(const uint8_t *data, size_t size);
/* The checkpoint loader on the bytes as they are: inspect, strict and
 * non-strict loads into an MLP 4->3->2 (with an optimizer and the
 * training state), a load into LeNet-5, and wg_checkpoint_load_model.
 * Mutants of a sealed checkpoint stop at the CRC; a file starting with
 * the plain HDF5 signature (as h5py writes) is passed to libhdf5. */
int wgf_checkpoint(const uint8_t *data, size_t size);
/* The same calls on the bytes with a valid CRC header recomputed in front
 * of the HDF5 part, so that every mutant reaches libhdf5 and the
 * validation behind it: a file that starts with the WGCKPT magic and is
 * at least 512 bytes long has its header rewritten; anything else gets a
 * fresh 512-byte user block in front. */
int wgf_checkpoint_crc(const uint8_t *data, size_t size);

/* The CRC defence, for replaying findings: the bytes sealed as
 * wgf_checkpoint_crc does, but with a CRC that does not match them (a
 * wengert checkpoint whose HDF5 part was corrupted into these bytes after
 * it was written). Every call must refuse the file, before libhdf5. */
int wgf_checkpoint_stale_crc(const uint8_t *data, size_t size);

/* The harnesses by the name of their target and corpus directory. */
typedef struct {
    const char *name;
    wgf_fn fn;
} wgf_target;
extern const wgf_target wgf_targets[];
extern const int wgf_n_targets;

#endif
