/* The mean of all elements; each input element's gradient is dy / n. The
 * mean of no elements is NaN, as in PyTorch. */
#include "ops.h"

#include <math.h>

static wg_status mean_backward(wg_tape *t, wg_node *n)
{
    wg_real *gx = wg_in_grad(t, n, 0);
    if (!gx)
        return t->status;
    const int64_t len = n->in[0]->numel;
    const wg_real g = n->out->grad[0] / (wg_real)len;
    for (int64_t i = 0; i < len; i++)
        gx[i] += g;
    return WG_OK;
}

const wg_op_desc wg_op_mean = { "mean", 1, mean_backward };

wg_tensor *wg_mean(wg_tape *t, wg_tensor *x)
{
    if (!wg_op_begin(t, "mean", &x, 1))
        return wg_poison(t);
    wg_tensor *y = wg_op_output(t, "mean", WG_SCALAR);
    if (!y)
        return wg_poison(t);
    double s = 0;
    for (int64_t i = 0; i < x->numel; i++)
        s += x->data[i];
    y->data[0] = x->numel ? (wg_real)(s / (double)x->numel) : (wg_real)NAN;
    if (wg_op_recording(t, &x, 1) && !wg_op_record(t, &wg_op_mean, y, &x, 1))
        return wg_poison(t);
    return y;
}
