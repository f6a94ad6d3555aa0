/* The checkpoint's file-level pieces: the CRC header in the HDF5 user
 * block (libhdf5 can itself crash on some corrupted files, so a whole-file
 * CRC is checked before libhdf5 parses anything), names as HDF5 paths, and
 * small attribute and dataset helpers. */
#include "checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* crc32 of everything from the user block's end; *len gets the count */
static int crc_tail(FILE *f, uint32_t *crc, uint64_t *len)
{
    unsigned char buf[1 << 16];
    uLong c = crc32(0L, Z_NULL, 0);
    uint64_t n = 0;
    if (fseek(f, WG_CKPT_USERBLOCK, SEEK_SET) != 0)
        return -1;
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
        c = crc32(c, buf, (uInt)got);
        n += got;
    }
    if (ferror(f))
        return -1;
    *crc = (uint32_t)c;
    *len = n;
    return 0;
}

wg_status wg_ckpt_seal(const char *path)
{
    FILE *f = fopen(path, "r+b");
    if (!f)
        return wg_set_last_error(WG_EIO, "%s: cannot reopen to seal: %s", path, strerror(errno));
    uint32_t crc;
    uint64_t len;
    unsigned char head[24];
    int ok = crc_tail(f, &crc, &len) == 0;
    memcpy(head, WG_CKPT_MAGIC, WG_CKPT_MAGIC_LEN);
    put_le(head + 8, 1, 4);
    put_le(head + 12, crc, 4);
    put_le(head + 16, len, 8);
    ok = ok && fseek(f, 0, SEEK_SET) == 0 && fwrite(head, 1, sizeof head, f) == sizeof head;
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int err = errno;
    ok = (fclose(f) == 0) && ok;
    if (!ok)
        return wg_set_last_error(WG_EIO, "%s: cannot write the checksum: %s", path,
                                 strerror(err ? err : EIO));
    return WG_OK;
}

wg_status wg_ckpt_verify(const char *path, bool *sealed)
{
    static const unsigned char hdf5_sig[8] = { 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n' };
    *sealed = false;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return wg_set_last_error(WG_EIO, "%s: is a directory, not a checkpoint", path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return wg_set_last_error(WG_EIO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char head[24];
    size_t got = fread(head, 1, sizeof head, f);
    wg_status s = WG_OK;
    if (got == 0) {
        s = wg_set_last_error(WG_EFORMAT, "%s: empty file", path);
    } else if (got >= 8 && memcmp(head, hdf5_sig, 8) == 0) {
        s = WG_OK; /* plain HDF5, e.g. from h5py: no CRC to check */
    } else if (got < WG_CKPT_MAGIC_LEN || memcmp(head, WG_CKPT_MAGIC, WG_CKPT_MAGIC_LEN) != 0) {
        s = wg_set_last_error(WG_EFORMAT, "%s: not a wengert checkpoint or HDF5 file", path);
    } else if (got < sizeof head) {
        s = wg_set_last_error(WG_EFORMAT, "%s: truncated: the checksum header is cut short",
                              path);
    } else if (get_le(head + 8, 4) != 1) {
        s = wg_set_last_error(WG_EFORMAT, "%s: checksum header version %u is not supported",
                              path, (unsigned)get_le(head + 8, 4));
    } else {
        uint32_t want = (uint32_t)get_le(head + 12, 4), crc;
        uint64_t want_len = get_le(head + 16, 8), len;
        if (crc_tail(f, &crc, &len) != 0)
            s = wg_set_last_error(WG_EIO, "%s: read error", path);
        else if (len != want_len)
            s = wg_set_last_error(WG_EFORMAT, "%s: truncated or extended: %llu bytes after the "
                                  "header, %llu expected", path, (unsigned long long)len,
                                  (unsigned long long)want_len);
        else if (crc != want)
            s = wg_set_last_error(WG_EFORMAT, "%s: checksum mismatch (crc32 %08x, expected "
                                  "%08x): the file is corrupt", path, crc, want);
        else
            *sealed = true;
    }
    fclose(f);
    return s;
}

bool wg_ckpt_h5_path(const char *root, const char *name, const char *leaf, char *out, size_t cap)
{
    if (strchr(name, '/')) /* a slash inside a name would invent a group */
        return false;
    int n = snprintf(out, cap, "%s/%s%s%s", root, name, leaf ? "/" : "", leaf ? leaf : "");
    if (n < 0 || (size_t)n >= cap)
        return false;
    char *p = out + strlen(root) + 1, *end = p + strlen(name);
    for (; p < end; p++) /* only the name's dots open groups, not the leaf's */
        if (*p == '.')
            *p = '/';
    return true;
}

static herr_t write_attr(hid_t obj, const char *name, hid_t type, hid_t space, const void *v)
{
    if (H5Aexists(obj, name) > 0)
        H5Adelete(obj, name);
    hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = a < 0 ? -1 : H5Awrite(a, type, v);
    if (a >= 0)
        H5Aclose(a);
    return r;
}

static herr_t scalar_attr(hid_t obj, const char *name, hid_t type, const void *v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    herr_t r = sp < 0 ? -1 : write_attr(obj, name, type, sp, v);
    H5Sclose(sp);
    return r;
}

herr_t wg_h5_attr_str(hid_t obj, const char *name, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(value) + 1);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    H5Tset_cset(t, H5T_CSET_UTF8);
    herr_t r = scalar_attr(obj, name, t, value);
    H5Tclose(t);
    return r;
}

herr_t wg_h5_attr_i64(hid_t obj, const char *name, int64_t value)
{
    return scalar_attr(obj, name, H5T_STD_I64LE, &value);
}

herr_t wg_h5_attr_f64(hid_t obj, const char *name, double value)
{
    return scalar_attr(obj, name, H5T_IEEE_F64LE, &value);
}

herr_t wg_h5_attr_u64s(hid_t obj, const char *name, const uint64_t *v, int n)
{
    hsize_t d = (hsize_t)n;
    hid_t sp = H5Screate_simple(1, &d, NULL);
    herr_t r = sp < 0 ? -1 : write_attr(obj, name, H5T_STD_U64LE, sp, v);
    H5Sclose(sp);
    return r;
}

herr_t wg_h5_attr_strs(hid_t obj, const char *name, const char *const *v, int n)
{
    size_t width = 1;
    for (int i = 0; i < n; i++)
        if (strlen(v[i]) + 1 > width)
            width = strlen(v[i]) + 1;
    char *buf = wg_calloc((size_t)(n ? n : 1), width);
    if (!buf)
        return -1;
    for (int i = 0; i < n; i++)
        memcpy(buf + (size_t)i * width, v[i], strlen(v[i]));
    hsize_t d = (hsize_t)n;
    hid_t sp = H5Screate_simple(1, &d, NULL);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, width);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    herr_t r = sp < 0 ? -1 : write_attr(obj, name, t, sp, buf);
    H5Tclose(t);
    H5Sclose(sp);
    wg_free(buf);
    return r;
}

herr_t wg_h5_read_str(hid_t obj, const char *name, char *out, size_t cap)
{
    if (cap == 0 || H5Aexists(obj, name) <= 0)
        return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t ft = a < 0 ? -1 : H5Aget_type(a);
    hid_t sp = a < 0 ? -1 : H5Aget_space(a);
    herr_t r = -1;
    if (ft >= 0 && sp >= 0 && H5Tget_class(ft) == H5T_STRING &&
        H5Sget_simple_extent_npoints(sp) == 1) {
        if (H5Tis_variable_str(ft) > 0) {
            char *s = NULL;
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            H5Tset_cset(mt, H5Tget_cset(ft));
            if (H5Aread(a, mt, &s) >= 0 && s) {
                snprintf(out, cap, "%s", s);
                r = 0;
            }
            if (s)
                H5free_memory(s);
            H5Tclose(mt);
        } else {
            /* on the stack: attribute strings are short, and a failed
             * allocation here would read as a missing attribute */
            char buf[4096];
            size_t n = H5Tget_size(ft);
            if (n > 0 && n < sizeof buf) {
                memset(buf, 0, n + 1);
                hid_t mt = H5Tcopy(ft);
                if (H5Aread(a, mt, buf) >= 0) {
                    snprintf(out, cap, "%s", buf);
                    r = 0;
                }
                H5Tclose(mt);
            }
        }
    }
    if (sp >= 0)
        H5Sclose(sp);
    if (ft >= 0)
        H5Tclose(ft);
    if (a >= 0)
        H5Aclose(a);
    return r;
}

static herr_t read_attr(hid_t obj, const char *name, hid_t mtype, void *v, hssize_t n)
{
    if (H5Aexists(obj, name) <= 0)
        return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t sp = a < 0 ? -1 : H5Aget_space(a);
    herr_t r = -1;
    if (sp >= 0 && H5Sget_simple_extent_npoints(sp) == n)
        r = H5Aread(a, mtype, v);
    if (sp >= 0)
        H5Sclose(sp);
    if (a >= 0)
        H5Aclose(a);
    return r;
}

herr_t wg_h5_read_i64(hid_t obj, const char *name, int64_t *v)
{
    return read_attr(obj, name, H5T_NATIVE_INT64, v, 1);
}

herr_t wg_h5_read_f64(hid_t obj, const char *name, double *v)
{
    return read_attr(obj, name, H5T_NATIVE_DOUBLE, v, 1);
}

herr_t wg_h5_read_u64s(hid_t obj, const char *name, uint64_t *v, int n)
{
    return read_attr(obj, name, H5T_NATIVE_UINT64, v, n);
}

#ifdef WG_DOUBLE
#define H5_NATIVE_REAL H5T_NATIVE_DOUBLE
#else
#define H5_NATIVE_REAL H5T_NATIVE_FLOAT
#endif

hid_t wg_h5_group(hid_t loc, const char *path)
{
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    H5Pset_obj_track_times(gcpl, 0);
    hid_t g = H5Gcreate2(loc, path, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    return g;
}

herr_t wg_h5_make_parents(hid_t file, const char *path)
{
    char buf[512];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -1;
    for (char *p = buf + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = 0;
        if (H5Lexists(file, buf, H5P_DEFAULT) <= 0) {
            hid_t g = wg_h5_group(file, buf);
            if (g < 0)
                return -1;
            H5Gclose(g);
        }
        *p = '/';
    }
    return 0;
}

herr_t wg_h5_write_real(hid_t file, const char *path, const wg_real *v, const wg_shape *shape,
                        bool f64)
{
    hsize_t dims[WG_MAX_DIMS];
    bool empty = false;
    for (int i = 0; i < shape->ndim; i++) {
        dims[i] = (hsize_t)shape->dim[i];
        empty |= dims[i] == 0;
    }
    hid_t sp = shape->ndim ? H5Screate_simple(shape->ndim, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    /* parent groups made here rather than as intermediates, so that they
     * too carry no timestamps */
    if (wg_h5_make_parents(file, path) < 0) {
        H5Pclose(dcpl);
        H5Pclose(lcpl);
        H5Sclose(sp);
        return -1;
    }
    H5Pset_obj_track_times(dcpl, 0); /* no timestamps: the same model, the same bytes */
    if (shape->ndim && !empty) { /* filters need chunks: one chunk, the whole array */
        H5Pset_chunk(dcpl, shape->ndim, dims);
        H5Pset_fletcher32(dcpl);
    }
    hid_t d = H5Dcreate2(file, path, f64 ? H5T_IEEE_F64LE : H5T_IEEE_F32LE, sp, lcpl, dcpl,
                         H5P_DEFAULT);
    herr_t r = d < 0 ? -1 : H5Dwrite(d, H5_NATIVE_REAL, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    if (d >= 0 && H5Dclose(d) < 0)
        r = -1;
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    H5Sclose(sp);
    return r;
}

herr_t wg_h5_shape(hid_t file, const char *path, wg_shape *shape)
{
    if (H5Lexists(file, path, H5P_DEFAULT) <= 0)
        return -1;
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    if (d < 0)
        return -1;
    hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
    herr_t r = -1;
    int nd = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    if (t >= 0 && H5Tget_class(t) == H5T_FLOAT && nd >= 0 && nd <= WG_MAX_DIMS) {
        hsize_t dims[WG_MAX_DIMS];
        H5Sget_simple_extent_dims(sp, dims, NULL);
        shape->ndim = nd;
        for (int i = 0; i < nd; i++)
            shape->dim[i] = (int64_t)dims[i];
        r = 0;
    }
    if (t >= 0)
        H5Tclose(t);
    if (sp >= 0)
        H5Sclose(sp);
    H5Dclose(d);
    return r;
}

herr_t wg_h5_read_real(hid_t file, const char *path, wg_real *v, const wg_shape *shape)
{
    wg_shape have;
    if (wg_h5_shape(file, path, &have) < 0 || !wg_shape_eq(&have, shape))
        return -1;
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    if (d < 0)
        return -1;
    /* a read fails when a Fletcher-32 checksum does not match */
    herr_t r = H5Dread(d, H5_NATIVE_REAL, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(d);
    return r;
}

uint64_t wg_h5_decoded_max(hid_t file, hid_t ds)
{
    hsize_t file_size = 0, stored = H5Dget_storage_size(ds);
    hid_t dcpl = H5Dget_create_plist(ds);
    int filters = dcpl < 0 ? -1 : H5Pget_nfilters(dcpl);
    bool expands = false;
    for (int i = 0; i < filters; i++) {
        unsigned flags;
        size_t nvals = 0;
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &nvals, NULL, 0, NULL, NULL);
        /* checksums and byte shuffling keep the size; anything else may
         * have compressed, and deflate expands up to about 1032x */
        if (id != H5Z_FILTER_FLETCHER32 && id != H5Z_FILTER_SHUFFLE)
            expands = true;
    }
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (filters < 0 || H5Fget_filesize(file, &file_size) < 0)
        return 0;
    return (uint64_t)(stored < file_size ? stored : file_size) * (expands ? 1032 : 1);
}
