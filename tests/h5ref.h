/* Reading the reference files of tools/make_torch_refs.py and
 * tools/make_optim_refs.py: datasets and attributes through the HDF5 C
 * library, shared by test_torch_ref and test_optim. */
#ifndef WG_TESTS_H5REF_H
#define WG_TESTS_H5REF_H

#include <hdf5.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <wengert.h>

/* An n-dimensional dataset read into memory. */
typedef struct array {
    wg_shape shape;
    int64_t n;
    void *v;
} array;

void array_free(array *a);
bool has_link(hid_t g, const char *name);
/* Reads dataset `name` of group `g`, converted by HDF5 to `memtype` (of
 * `elsize` bytes). False if it is missing, has too many dimensions or
 * cannot be read; `out` then holds nothing to free. */
bool read_array(hid_t g, const char *name, hid_t memtype, size_t elsize, array *out);
/* Reads a numeric attribute of exactly `count` elements, converted to
 * `memtype`. */
bool read_attr(hid_t obj, const char *name, hid_t memtype, void *out, hssize_t count);
/* Reads a scalar string attribute, fixed-length (what the scripts write)
 * or variable-length (what h5py writes for a plain str), into out. */
bool read_str_attr(hid_t obj, const char *name, char *out, size_t size);
/* "[1, 0, 2]": element `flat` of a row-major array of shape s. */
const char *index_str(wg_shape s, int64_t flat, char *buf, size_t size);

#endif
