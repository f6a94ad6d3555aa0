/* y = x for x > 0, slope x otherwise; dy/dx = 1 or slope. As PyTorch, the
 * gradient at 0 is the slope's side, and a NaN passes through. */
#include "ops.h"

#include <math.h>
#include <string.h>

enum { HP_SLOPE_BITS };

static wg_real slope_of(const wg_node *n)
{
    double s;
    memcpy(&s, &n->hp[HP_SLOPE_BITS], sizeof s);
    return (wg_real)s;
}

static wg_status leaky_relu_backward(wg_tape *t, wg_node *n)
{
    bool acc;
    wg_real *gx = wg_in_grad_dst(t, n, 0, &acc);
    if (!gx)
        return t->status;
    const wg_real *x = n->in[0]->data, *dy = n->out->grad, s = slope_of(n);
    WG_GRAD_LOOP(acc, n->out->numel, gx, i, x[i] > 0 ? dy[i] : s * dy[i]);
    return WG_OK;
}

const wg_op_desc wg_op_leaky_relu = { "leaky_relu", 1, leaky_relu_backward };

wg_tensor *wg_leaky_relu(wg_tape *t, wg_tensor *x, double slope)
{
    static const char *op = "leaky_relu";
    if (!wg_op_begin(t, op, &x, 1))
        return wg_poison(t);
    if (!isfinite(slope))
        return wg_fail(t, WG_EINVAL, op, "slope %g must be finite", slope);
    wg_tensor *y = wg_op_output(t, op, x->shape);
    if (!y)
        return wg_poison(t);
    const wg_real s = (wg_real)slope;
    const int64_t len = x->numel;
#pragma omp parallel for num_threads(wg_threads_for(len)) schedule(static)
    for (int64_t i = 0; i < len; i++)
        y->data[i] = x->data[i] > 0 ? x->data[i] : s * x->data[i];
    if (wg_op_recording(t, &x, 1)) {
        wg_node *n = wg_op_record(t, &wg_op_leaky_relu, y, &x, 1);
        if (!n)
            return wg_poison(t);
        memcpy(&n->hp[HP_SLOPE_BITS], &slope, sizeof slope);
    }
    return y;
}
