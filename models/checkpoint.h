/* Internal: the pieces of the checkpoint format shared by save and load. */
#ifndef WG_CHECKPOINT_H
#define WG_CHECKPOINT_H

#include "internal.h"

#include <hdf5.h>

#define WG_CKPT_FORMAT "wengert-checkpoint"
#define WG_CKPT_VERSION 1
/* The HDF5 user block: bytes libhdf5 skips, where our CRC header lives. */
#define WG_CKPT_USERBLOCK 512
/* header: magic, u32 header version, u32 crc32 of the bytes after the
 * user block, u64 their count; all little-endian */
#define WG_CKPT_MAGIC "WGCKPT\r\n"
#define WG_CKPT_MAGIC_LEN 8

/* Writes the CRC header into the user block of a closed HDF5 file and
 * flushes it to disk. */
WG_INTERNAL wg_status wg_ckpt_seal(const char *path);
/* Checks the CRC header if there is one. Files without it (written by
 * h5py) pass, with *sealed false. Errors name the file. */
WG_INTERNAL wg_status wg_ckpt_verify(const char *path, bool *sealed);

/* "conv1.weight" -> "/model/conv1/weight" under `root`. */
WG_INTERNAL bool wg_ckpt_h5_path(const char *root, const char *name, const char *leaf, char *out,
                                 size_t cap);

/* Small HDF5 helpers; all return < 0 on failure, never print (callers run
 * inside H5E_BEGIN_TRY). */
WG_INTERNAL herr_t wg_h5_attr_str(hid_t obj, const char *name, const char *value);
WG_INTERNAL herr_t wg_h5_attr_i64(hid_t obj, const char *name, int64_t value);
WG_INTERNAL herr_t wg_h5_attr_f64(hid_t obj, const char *name, double value);
WG_INTERNAL herr_t wg_h5_attr_u64s(hid_t obj, const char *name, const uint64_t *v, int n);
WG_INTERNAL herr_t wg_h5_attr_strs(hid_t obj, const char *name, const char *const *v, int n);
/* Reads a string attribute (fixed or variable length) into out. */
WG_INTERNAL herr_t wg_h5_read_str(hid_t obj, const char *name, char *out, size_t cap);
WG_INTERNAL herr_t wg_h5_read_i64(hid_t obj, const char *name, int64_t *v);
WG_INTERNAL herr_t wg_h5_read_f64(hid_t obj, const char *name, double *v);
WG_INTERNAL herr_t wg_h5_read_u64s(hid_t obj, const char *name, uint64_t *v, int n);
/* A new group without timestamps (so equal checkpoints are equal bytes). */
WG_INTERNAL hid_t wg_h5_group(hid_t loc, const char *path);
/* Creates the missing groups on the way to `path`. */
WG_INTERNAL herr_t wg_h5_make_parents(hid_t file, const char *path);
/* Writes a real array with Fletcher-32 checksums; creates parent groups. */
WG_INTERNAL herr_t wg_h5_write_real(hid_t file, const char *path, const wg_real *v,
                                    const wg_shape *shape, bool f64);
/* Reads a real array of exactly `shape` (any float type converts). */
WG_INTERNAL herr_t wg_h5_read_real(hid_t file, const char *path, wg_real *v, const wg_shape *shape);
/* The shape of a dataset; < 0 if it is missing or not a float array. */
WG_INTERNAL herr_t wg_h5_shape(hid_t file, const char *path, wg_shape *shape);
/* The most bytes the data set `ds` of `file` can decode to: its storage,
 * which a file cannot fake beyond its own size, times the most a filter
 * may expand it. Its dimensions are only a claim; 0 if unknown. */
WG_INTERNAL uint64_t wg_h5_decoded_max(hid_t file, hid_t ds);

#endif
