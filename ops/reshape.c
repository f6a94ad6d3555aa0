/* reshape and flatten: the same values under another shape. The output
 * shares the input's values (no copy); its gradient is its own buffer,
 * added into the input's in backward. */
#include "ops.h"

#include <string.h>

wg_tensor *wg_op_view(wg_tape *t, const char *op, wg_shape shape, wg_real *data)
{
    wg_tensor *y = wg_tape_alloc(t, op, sizeof *y);
    if (!y)
        return NULL;
    *y = (wg_tensor){ .data = data, .shape = shape, .numel = wg_shape_numel(&shape), .tape = t,
                      .op = op };
    return y;
}

static wg_status reshape_backward(wg_tape *t, wg_node *n)
{
    bool acc;
    wg_real *gx = wg_in_grad_dst(t, n, 0, &acc);
    if (!gx)
        return t->status;
    const wg_real *dy = n->out->grad;
    WG_GRAD_LOOP(acc, n->out->numel, gx, i, dy[i]);
    return WG_OK;
}

const wg_op_desc wg_op_reshape = { "reshape", 1, reshape_backward };

static wg_tensor *reshape(wg_tape *t, const char *op, wg_tensor *x, wg_shape s)
{
    wg_shape_buf a;
    char b[96];
    if (s.ndim < 0 || s.ndim > WG_MAX_DIMS)
        return wg_fail(t, WG_ESHAPE, op, "%s to a shape of rank %d: rank must be 0 to %d",
                       wg_shp(x, &a), s.ndim, WG_MAX_DIMS);
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < s.ndim; i++) {
        if (s.dim[i] == -1 && infer < 0) {
            infer = i;
            continue;
        }
        if (s.dim[i] < 0)
            return wg_fail(t, WG_ESHAPE, op, "%s to %s: extents must be >= 0, with at most one -1",
                           wg_shp(x, &a), wg_shape_str(s, b, sizeof b));
        if (s.dim[i] && known > INT64_MAX / s.dim[i])
            return wg_fail(t, WG_ESHAPE, op, "%s to %s: size overflows", wg_shp(x, &a),
                           wg_shape_str(s, b, sizeof b));
        known *= s.dim[i];
    }
    if (infer >= 0) {
        if (known == 0 || x->numel % known)
            return wg_fail(t, WG_ESHAPE, op, "%s to %s: %lld elements do not divide into that",
                           wg_shp(x, &a), wg_shape_str(s, b, sizeof b), (long long)x->numel);
        s.dim[infer] = x->numel / known;
        known = x->numel;
    }
    if (known != x->numel)
        return wg_fail(t, WG_ESHAPE, op, "%s to %s: element counts differ (%lld vs %lld)",
                       wg_shp(x, &a), wg_shape_str(s, b, sizeof b), (long long)x->numel,
                       (long long)known);
    wg_tensor *y = wg_op_view(t, op, s, x->data);
    if (!y)
        return wg_poison(t);
    if (wg_op_recording(t, &x, 1) && !wg_op_record(t, &wg_op_reshape, y, &x, 1))
        return wg_poison(t);
    return y;
}

wg_tensor *wg_reshape(wg_tape *t, wg_tensor *x, wg_shape shape)
{
    if (!wg_op_begin(t, "reshape", &x, 1))
        return wg_poison(t);
    return reshape(t, "reshape", x, shape);
}

wg_tensor *wg_flatten(wg_tape *t, wg_tensor *x)
{
    if (!wg_op_begin(t, "flatten", &x, 1))
        return wg_poison(t);
    if (x->shape.ndim < 1) {
        wg_shape_buf a;
        return wg_fail(t, WG_ESHAPE, "flatten", "%s: needs at least one dimension",
                       wg_shp(x, &a));
    }
    int64_t rest = 1;
    for (int i = 1; i < x->shape.ndim; i++)
        rest *= x->shape.dim[i];
    return reshape(t, "flatten", x, WG_SHAPE(x->shape.dim[0], rest));
}
