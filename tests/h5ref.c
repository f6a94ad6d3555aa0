/* See h5ref.h. */
#include "h5ref.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void array_free(array *a)
{
    free(a->v);
    a->v = NULL;
}

bool has_link(hid_t g, const char *name)
{
    return H5Lexists(g, name, H5P_DEFAULT) > 0;
}

bool read_array(hid_t g, const char *name, hid_t memtype, size_t elsize, array *out)
{
    memset(out, 0, sizeof *out);
    if (!has_link(g, name))
        return false;
    bool ok = false;
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    hid_t sp = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
    int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    hsize_t dims[WG_MAX_DIMS];
    if (nd >= 0 && nd <= WG_MAX_DIMS && H5Sget_simple_extent_dims(sp, dims, NULL) == nd) {
        out->shape.ndim = nd;
        out->n = 1;
        for (int i = 0; i < nd; i++) {
            out->shape.dim[i] = (int64_t)dims[i];
            out->n *= (int64_t)dims[i];
        }
        out->v = malloc((size_t)(out->n > 0 ? out->n : 1) * elsize);
        ok = out->v && H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->v) >= 0;
        if (!ok)
            array_free(out);
    }
    if (sp >= 0)
        H5Sclose(sp);
    if (d >= 0)
        H5Dclose(d);
    return ok;
}

bool read_attr(hid_t obj, const char *name, hid_t memtype, void *out, hssize_t count)
{
    if (H5Aexists(obj, name) <= 0)
        return false;
    bool ok = false;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t sp = a >= 0 ? H5Aget_space(a) : H5I_INVALID_HID;
    if (sp >= 0 && H5Sget_simple_extent_npoints(sp) == count)
        ok = H5Aread(a, memtype, out) >= 0;
    if (sp >= 0)
        H5Sclose(sp);
    if (a >= 0)
        H5Aclose(a);
    return ok;
}

bool read_str_attr(hid_t obj, const char *name, char *out, size_t size)
{
    if (size == 0 || H5Aexists(obj, name) <= 0)
        return false;
    out[0] = '\0';
    bool ok = false;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t ft = a >= 0 ? H5Aget_type(a) : H5I_INVALID_HID;
    hid_t sp = a >= 0 ? H5Aget_space(a) : H5I_INVALID_HID;
    if (ft < 0 || sp < 0 || H5Tget_class(ft) != H5T_STRING ||
        H5Sget_simple_extent_npoints(sp) != 1)
        goto done;
    /* the file's type serves as the memory type: strings have no byte order */
    htri_t var = H5Tis_variable_str(ft);
    if (var > 0) {
        char *s = NULL;
        if (H5Aread(a, ft, &s) >= 0 && s) {
            snprintf(out, size, "%s", s);
            ok = true;
        }
        H5free_memory(s);
    } else if (var == 0) {
        size_t n = H5Tget_size(ft);
        char *buf = n ? calloc(n + 1, 1) : NULL; /* + 1: null-padded strings lack one */
        if (buf && H5Aread(a, ft, buf) >= 0) {
            snprintf(out, size, "%s", buf);
            ok = true;
        }
        free(buf);
    }
done:
    if (sp >= 0)
        H5Sclose(sp);
    if (ft >= 0)
        H5Tclose(ft);
    if (a >= 0)
        H5Aclose(a);
    return ok;
}

const char *index_str(wg_shape s, int64_t flat, char *buf, size_t size)
{
    int64_t idx[WG_MAX_DIMS];
    for (int i = s.ndim - 1; i >= 0; i--) {
        int64_t d = s.dim[i] > 0 ? s.dim[i] : 1;
        idx[i] = flat % d;
        flat /= d;
    }
    size_t o = 0;
    int n = snprintf(buf, size, "[");
    o = n > 0 ? (size_t)n : 0;
    for (int i = 0; i < s.ndim && o < size; i++) {
        n = snprintf(buf + o, size - o, i ? ", %" PRId64 : "%" PRId64, idx[i]);
        o += n > 0 ? (size_t)n : 0;
    }
    if (o < size)
        snprintf(buf + o, size - o, "]");
    return buf;
}
