/* y = 1 / (1 + e^-x); dy/dx = y (1 - y), taken from the output. */
#include "ops.h"

static wg_status sigmoid_backward(wg_tape *t, wg_node *n)
{
    wg_real *gx = wg_in_grad(t, n, 0);
    if (!gx)
        return t->status;
    const wg_real *y = n->out->data, *dy = n->out->grad;
    const int64_t len = n->out->numel;
#pragma omp parallel for num_threads(wg_threads_for(len)) schedule(static)
    for (int64_t i = 0; i < len; i++)
        gx[i] += dy[i] * y[i] * (1 - y[i]);
    return WG_OK;
}

const wg_op_desc wg_op_sigmoid = { "sigmoid", 1, sigmoid_backward };

wg_tensor *wg_sigmoid(wg_tape *t, wg_tensor *x)
{
    return wg_unary_op(t, &wg_op_sigmoid, x, wg_vsigmoid);
}
