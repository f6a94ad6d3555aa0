/* mean((p - q)^2) over all elements; d/dp = 2 (p - q) / n, d/dq = -d/dp. */
#include "ops.h"

#include <math.h>

static wg_status mse_backward(wg_tape *t, wg_node *n)
{
    const wg_tensor *p = n->in[0], *q = n->in[1];
    const int64_t len = p->numel;
    const wg_real g = 2 * n->out->grad[0] / (wg_real)len;
    wg_real *gp = wg_in_grad(t, n, 0);
    wg_real *gq = wg_in_grad(t, n, 1);
    if (t->status != WG_OK)
        return t->status;
#pragma omp parallel for num_threads(wg_threads_for(len)) schedule(static)
    for (int64_t i = 0; i < len; i++) {
        wg_real d = g * (p->data[i] - q->data[i]);
        if (gp)
            gp[i] += d;
        if (gq)
            gq[i] -= d;
    }
    return WG_OK;
}

const wg_op_desc wg_op_mse = { "mse", 2, mse_backward };

wg_tensor *wg_mse(wg_tape *t, wg_tensor *pred, wg_tensor *target)
{
    wg_tensor *in[2] = { pred, target };
    if (!wg_op_begin(t, "mse", in, 2))
        return wg_poison(t);
    if (!wg_shape_eq(&pred->shape, &target->shape)) {
        wg_shape_buf a, b;
        return wg_fail(t, WG_ESHAPE, "mse", "%s vs %s: prediction and target shapes differ",
                       wg_shp(pred, &a), wg_shp(target, &b));
    }
    wg_tensor *y = wg_op_output(t, "mse", WG_SCALAR);
    if (!y)
        return wg_poison(t);
    /* in double, in eight lanes: independent sums vectorise where one
     * running sum would wait on every addition; a fixed order all the same */
    const wg_real *pv = pred->data, *tv = target->data;
    double lane[8] = { 0 };
    int64_t i = 0;
    for (; i + 8 <= pred->numel; i += 8)
        for (int l = 0; l < 8; l++) {
            double d = (double)pv[i + l] - (double)tv[i + l];
            lane[l] += d * d;
        }
    for (; i < pred->numel; i++) {
        double d = (double)pv[i] - (double)tv[i];
        lane[0] += d * d;
    }
    double s = 0;
    for (int l = 0; l < 8; l++)
        s += lane[l];
    y->data[0] = pred->numel ? (wg_real)(s / (double)pred->numel) : (wg_real)NAN;
    if (wg_op_recording(t, in, 2) && !wg_op_record(t, &wg_op_mse, y, in, 2))
        return wg_poison(t);
    return y;
}
