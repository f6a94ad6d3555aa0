/* The sum of all elements; each input element's gradient is dy. The sum
 * runs serially in double, in index order: accurate, and the same bits at
 * any thread count. */
#include "ops.h"

static wg_status sum_backward(wg_tape *t, wg_node *n)
{
    wg_real *gx = wg_in_grad(t, n, 0);
    if (!gx)
        return t->status;
    const wg_real g = n->out->grad[0];
    for (int64_t i = 0; i < n->in[0]->numel; i++)
        gx[i] += g;
    return WG_OK;
}

const wg_op_desc wg_op_sum = { "sum", 1, sum_backward };

wg_tensor *wg_sum(wg_tape *t, wg_tensor *x)
{
    if (!wg_op_begin(t, "sum", &x, 1))
        return wg_poison(t);
    wg_tensor *y = wg_op_output(t, "sum", WG_SCALAR);
    if (!y)
        return wg_poison(t);
    double s = 0;
    for (int64_t i = 0; i < x->numel; i++)
        s += x->data[i];
    y->data[0] = (wg_real)s;
    if (wg_op_recording(t, &x, 1) && !wg_op_record(t, &wg_op_sum, y, &x, 1))
        return wg_poison(t);
    return y;
}
