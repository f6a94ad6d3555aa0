/* Image data sets in HDF5 files: a uint8 `images` array and optional
 * integer `labels`. The file's metadata is checked (rank, type, sizes,
 * counts) before any data is read, libhdf5 runs silenced so it never
 * prints, and every handle is closed on every path. */
#include "internal.h"
#include "../models/checkpoint.h"

#include <errno.h>
#include <hdf5.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* The same cap as for IDX files: metadata is a claim, not a promise. */
#define H5D_MAX_BYTES ((uint64_t)1 << 32)
#define H5D_MAX_LABEL 65535

typedef struct {
    const char *path;
    hid_t file, images, labels;
} h5_job;

static wg_status fail(wg_status s, const h5_job *j, const char *fmt, ...) WG_PRINTF(3, 4);

static wg_status fail(wg_status s, const h5_job *j, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return wg_set_last_error(s, "%s: %s", j->path, msg);
}

static wg_status open_file(h5_job *j)
{
    /* fopen first: its errno says why better than libhdf5 does */
    FILE *f = fopen(j->path, "rb");
    if (!f)
        return fail(WG_EIO, j, "cannot open: %s", strerror(errno));
    fclose(f);
    htri_t is = H5Fis_hdf5(j->path);
    if (is == 0)
        return fail(WG_EFORMAT, j, "not an HDF5 file");
    if (is < 0)
        return fail(WG_EIO, j, "cannot open as HDF5");
    j->file = H5Fopen(j->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (j->file < 0)
        return fail(WG_EFORMAT, j, "cannot open as HDF5 (damaged file?)");
    return WG_OK;
}

/* A dataset at the root; a missing optional one leaves *ds negative. */
static wg_status open_dataset(h5_job *j, const char *name, bool required, hid_t *ds)
{
    htri_t exists = H5Lexists(j->file, name, H5P_DEFAULT);
    if (exists < 0)
        return fail(WG_EFORMAT, j, "cannot look up '%s'", name);
    if (!exists)
        return required ? fail(WG_EFORMAT, j, "no dataset '%s'", name) : WG_OK;
    *ds = H5Dopen2(j->file, name, H5P_DEFAULT);
    if (*ds < 0)
        return fail(WG_EFORMAT, j, "'%s' is not a dataset", name);
    return WG_OK;
}

/* "signed 32-bit integers", for messages. */
static const char *type_str(H5T_class_t cls, size_t size, H5T_sign_t sign, char *buf, size_t cap)
{
    if (cls == H5T_INTEGER)
        snprintf(buf, cap, "%s %zu-bit integers", sign == H5T_SGN_NONE ? "unsigned" : "signed",
                 8 * size);
    else if (cls == H5T_FLOAT)
        snprintf(buf, cap, "%zu-bit floats", 8 * size);
    else if (cls == H5T_STRING)
        snprintf(buf, cap, "strings");
    else
        snprintf(buf, cap, "a non-numeric type");
    return buf;
}

/* Images must be stored as uint8, so reading them as uint8 converts
 * nothing; labels may be any integer type (conversion clamps, and the
 * range check below catches what was clamped). */
static wg_status check_type(const h5_job *j, const char *name, hid_t ds, bool u8)
{
    hid_t t = H5Dget_type(ds);
    if (t < 0)
        return fail(WG_EFORMAT, j, "'%s': cannot read its type", name);
    H5T_class_t cls = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    H5T_sign_t sign = cls == H5T_INTEGER ? H5Tget_sign(t) : H5T_SGN_ERROR;
    H5Tclose(t);
    /* integers of 8 to 64 bits: a type claiming gigabytes per element
     * would make libhdf5 allocate that much to convert it */
    bool ok = cls == H5T_INTEGER && size >= 1 && size <= 8 &&
              (!u8 || (size == 1 && sign == H5T_SGN_NONE));
    if (ok)
        return WG_OK;
    char b[64];
    return fail(WG_EFORMAT, j, "'%s' is stored as %s; expected %s", name,
                type_str(cls, size, sign, b, sizeof b),
                u8 ? "unsigned 8-bit integers" : "integers of 8 to 64 bits");
}

/* The extents of a dataset whose rank must be in [lo, hi] (hi <= 4). */
static wg_status get_dims(const h5_job *j, const char *name, hid_t ds, int lo, int hi,
                          hsize_t *dims, int *rank)
{
    hid_t sp = H5Dget_space(ds);
    if (sp < 0)
        return fail(WG_EFORMAT, j, "'%s': cannot read its shape", name);
    int r = H5Sget_simple_extent_type(sp) == H5S_SIMPLE ? H5Sget_simple_extent_ndims(sp) : 0;
    if (r >= lo && r <= hi && H5Sget_simple_extent_dims(sp, dims, NULL) < 0)
        r = -1;
    H5Sclose(sp);
    if (r < 0)
        return fail(WG_EFORMAT, j, "'%s': cannot read its shape", name);
    if (r < lo || r > hi)
        return lo == hi ? fail(WG_EFORMAT, j, "'%s' has rank %d; expected %d", name, r, lo)
                        : fail(WG_EFORMAT, j, "'%s' has rank %d; expected %d to %d", name, r,
                               lo, hi);
    for (int i = 0; i < r; i++)
        if (dims[i] == 0)
            return fail(WG_EFORMAT, j, "'%s' has a zero dimension (dimension %d)", name, i);
    *rank = r;
    return WG_OK;
}

/* Fills the geometry of `d` from the images' extents, refusing sizes that
 * overflow an int or exceed the byte cap. */
static wg_status image_geometry(const h5_job *j, const hsize_t *dims, int rank, wg_dataset *d,
                                uint64_t *bytes)
{
    uint64_t total = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] > H5D_MAX_BYTES / total)
            return fail(WG_EFORMAT, j, "'images' holds more than the %llu bytes allowed",
                        (unsigned long long)H5D_MAX_BYTES);
        total *= dims[i];
    }
    for (int i = 1; i < rank; i++)
        if (dims[i] > INT_MAX)
            return fail(WG_EFORMAT, j, "'images': image dimension %d too large", i);
    if (total > SIZE_MAX)
        return fail(WG_EFORMAT, j, "'images': %llu bytes do not fit in memory here",
                    (unsigned long long)total);
    d->count = (int64_t)dims[0];
    d->channels = rank == 4 ? (int)dims[1] : 1;
    d->rows = (int)dims[rank - 2];
    d->cols = (int)dims[rank - 1];
    *bytes = total;
    return WG_OK;
}

/* The dimensions are a claim; the file's stored bytes are a fact. Refuse
 * to allocate more than the storage could hold, so a 2 KB file cannot ask
 * for gigabytes. */
static wg_status check_stored(const h5_job *j, const char *name, hid_t ds, uint64_t bytes)
{
    uint64_t limit = wg_h5_decoded_max(j->file, ds);
    if (limit == 0 || bytes > limit)
        return fail(WG_EFORMAT, j, "'%s' claims %llu bytes; the file stores %llu", name,
                    (unsigned long long)bytes, (unsigned long long)H5Dget_storage_size(ds));
    return WG_OK;
}

static wg_status load_images(h5_job *j, wg_dataset *d)
{
    hsize_t dims[4];
    int rank = 0;
    uint64_t bytes = 0;
    wg_status s = open_dataset(j, "images", true, &j->images);
    if (s == WG_OK)
        s = check_type(j, "images", j->images, true);
    if (s == WG_OK)
        s = get_dims(j, "images", j->images, 3, 4, dims, &rank);
    if (s == WG_OK)
        s = image_geometry(j, dims, rank, d, &bytes);
    if (s == WG_OK)
        s = check_stored(j, "images", j->images, bytes);
    if (s != WG_OK)
        return s;
    d->images = wg_malloc((size_t)bytes);
    if (!d->images)
        return fail(WG_ENOMEM, j, "out of memory for %llu bytes of images",
                    (unsigned long long)bytes);
    if (H5Dread(j->images, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, d->images) < 0)
        return fail(WG_EIO, j, "cannot read 'images'");
    wg_advise_huge(d->images, (size_t)bytes);
    return WG_OK;
}

static wg_status check_labels(const h5_job *j, wg_dataset *d)
{
    int32_t max = 0;
    for (int64_t i = 0; i < d->count; i++) {
        int32_t v = d->labels[i];
        if (v < 0 || v > H5D_MAX_LABEL)
            /* wider values were clamped to the int32 limits on reading */
            return fail(WG_EFORMAT, j, "label %s%ld (of image %lld) is outside [0, %d]",
                        v == INT32_MAX ? ">= " : v == INT32_MIN ? "<= " : "", (long)v,
                        (long long)i, H5D_MAX_LABEL);
        if (v > max)
            max = v;
    }
    d->classes = (int)max + 1;
    return WG_OK;
}

static wg_status load_labels(h5_job *j, wg_dataset *d)
{
    hsize_t dims[1];
    int rank = 0;
    wg_status s = open_dataset(j, "labels", false, &j->labels);
    if (s != WG_OK || j->labels < 0)
        return s;
    s = check_type(j, "labels", j->labels, false);
    if (s == WG_OK)
        s = get_dims(j, "labels", j->labels, 1, 1, dims, &rank);
    if (s != WG_OK)
        return s;
    if (dims[0] != (hsize_t)d->count)
        return fail(WG_EFORMAT, j, "%llu labels for %lld images", (unsigned long long)dims[0],
                    (long long)d->count);
    d->labels = wg_calloc((size_t)d->count, sizeof *d->labels);
    if (!d->labels)
        return fail(WG_ENOMEM, j, "out of memory for %lld labels", (long long)d->count);
    /* read as int32: out-of-range values of wider types clamp to the
     * int32 limits, which the range check then rejects */
    if (H5Dread(j->labels, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, d->labels) < 0)
        return fail(WG_EIO, j, "cannot read 'labels'");
    return check_labels(j, d);
}

static void close_all(h5_job *j)
{
    if (j->labels >= 0)
        H5Dclose(j->labels);
    if (j->images >= 0)
        H5Dclose(j->images);
    if (j->file >= 0)
        H5Fclose(j->file);
}

wg_status wg_h5_dataset_load(const char *path, wg_dataset *out)
{
    if (!out)
        return wg_set_last_error(WG_EINVAL, "h5_dataset_load: NULL output");
    memset(out, 0, sizeof *out);
    if (!path)
        return wg_set_last_error(WG_EINVAL, "h5_dataset_load: NULL path");
    h5_job j = { path, H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID };
    wg_dataset d = { 0 };
    wg_status s;
    H5E_BEGIN_TRY
    {
        s = open_file(&j);
        if (s == WG_OK)
            s = load_images(&j, &d);
        if (s == WG_OK)
            s = load_labels(&j, &d);
        close_all(&j);
    }
    H5E_END_TRY;
    if (s != WG_OK) {
        wg_free(d.images);
        wg_free(d.labels);
        return s;
    }
    d.owned = true;
    *out = d;
    return WG_OK;
}
