/* y = tanh(x); dy/dx = 1 - y^2, taken from the output. */
#include "ops.h"

static wg_status tanh_backward(wg_tape *t, wg_node *n)
{
    wg_real *gx = wg_in_grad(t, n, 0);
    if (!gx)
        return t->status;
    const wg_real *y = n->out->data, *dy = n->out->grad;
    const int64_t len = n->out->numel;
#pragma omp parallel for num_threads(wg_threads_for(len)) schedule(static)
    for (int64_t i = 0; i < len; i++)
        gx[i] += dy[i] * (1 - y[i] * y[i]);
    return WG_OK;
}

const wg_op_desc wg_op_tanh = { "tanh", 1, tanh_backward };

wg_tensor *wg_tanh(wg_tape *t, wg_tensor *x)
{
    return wg_unary_op(t, &wg_op_tanh, x, wg_vtanh);
}
