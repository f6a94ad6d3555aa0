/* Tensor accessors, shapes, and standalone tensors. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int64_t wg_shape_numel(const wg_shape *s)
{
    if (s->ndim < 0 || s->ndim > WG_MAX_DIMS)
        return -1;
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) {
        int64_t d = s->dim[i];
        if (d < 0)
            return -1;
        if (d && n > INT64_MAX / d)
            return -1;
        n *= d;
    }
    /* every tensor must be addressable in bytes too */
    if ((uint64_t)n > SIZE_MAX / sizeof(wg_real) / 2)
        return -1;
    return n;
}

bool wg_shape_eq(const wg_shape *a, const wg_shape *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->dim[i] != b->dim[i])
            return false;
    return true;
}

const char *wg_shape_str(wg_shape s, char *buf, size_t size)
{
    if (!buf || !size)
        return buf;
    size_t o = 0;
    int n = snprintf(buf, size, "[");
    o = n > 0 ? (size_t)n : 0;
    int nd = s.ndim < 0 ? 0 : s.ndim > WG_MAX_DIMS ? WG_MAX_DIMS : s.ndim;
    for (int i = 0; i < nd && o < size; i++) {
        n = snprintf(buf + o, size - o, i ? " x %lld" : "%lld", (long long)s.dim[i]);
        if (n > 0)
            o += (size_t)n;
    }
    if (o < size)
        snprintf(buf + o, size - o, "]");
    return buf;
}

const char *wg_shp(const wg_tensor *t, wg_shape_buf *b)
{
    return wg_shape_str(t->shape, b->s, sizeof b->s);
}

bool wg_needs_grad(const wg_tensor *t)
{
    return t && (t->flags & WG_F_REQ_GRAD);
}

wg_shape wg_shape_of(const wg_tensor *t)
{
    return t ? t->shape : (wg_shape){ 0, { 0 } };
}

int wg_ndim(const wg_tensor *t)
{
    return t ? t->shape.ndim : 0;
}

int64_t wg_dim(const wg_tensor *t, int i)
{
    if (!t)
        return 0;
    if (i < 0)
        i += t->shape.ndim;
    return i >= 0 && i < t->shape.ndim ? t->shape.dim[i] : 0;
}

int64_t wg_numel(const wg_tensor *t)
{
    return t ? t->numel : 0;
}

wg_real *wg_data(const wg_tensor *t)
{
    return t ? t->data : NULL;
}

wg_real *wg_grad(const wg_tensor *t)
{
    /* a frozen parameter keeps its buffer, but must look gradient-free to
     * backwards (custom ones test wg_grad() for NULL) */
    return t && (t->flags & WG_F_REQ_GRAD) ? t->grad : NULL;
}

wg_real wg_item(const wg_tensor *t)
{
    return t && t->numel == 1 ? t->data[0] : (wg_real)NAN;
}

const char *wg_name(const wg_tensor *t)
{
    return t ? t->name : NULL;
}

bool wg_requires_grad(const wg_tensor *t)
{
    return wg_needs_grad(t);
}

wg_tensor *wg_tensor_new(wg_shape shape, bool requires_grad)
{
    int64_t n = wg_shape_numel(&shape);
    if (n < 0) {
        char b[96];
        wg_set_last_error(WG_EINVAL, "tensor_new: invalid shape %s",
                          wg_shape_str(shape, b, sizeof b));
        return NULL;
    }
    wg_tensor *t = wg_calloc(1, sizeof *t);
    wg_real *data = wg_calloc((size_t)n, sizeof(wg_real));
    wg_real *grad = requires_grad ? wg_calloc((size_t)n, sizeof(wg_real)) : NULL;
    if (!t || !data || (requires_grad && !grad)) {
        wg_free(t);
        wg_free(data);
        wg_free(grad);
        wg_set_last_error(WG_ENOMEM, "tensor_new: out of memory");
        return NULL;
    }
    t->data = data;
    t->grad = grad;
    t->shape = shape;
    t->numel = n;
    t->flags = WG_F_OWNED | (requires_grad ? WG_F_REQ_GRAD : 0);
    return t;
}

void wg_tensor_free(wg_tensor *t)
{
    if (!t || !(t->flags & WG_F_OWNED))
        return;
    wg_free(t->data);
    wg_free(t->grad);
    wg_free(t->name);
    wg_free(t);
}

void wg_zero_grad(wg_tensor *t)
{
    if (t && t->grad && (t->flags & (WG_F_OWNED | WG_F_PARAM)))
        memset(t->grad, 0, (size_t)t->numel * sizeof(wg_real));
}
