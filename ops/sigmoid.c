/* y = 1 / (1 + e^-x); dy/dx = y (1 - y), taken from the output. */
#include "ops.h"

static wg_status sigmoid_backward(wg_tape *t, wg_node *n)
{
    bool acc;
    wg_real *gx = wg_in_grad_dst(t, n, 0, &acc);
    if (!gx)
        return t->status;
    const wg_real *y = n->out->data, *dy = n->out->grad;
    WG_GRAD_LOOP(acc, n->out->numel, gx, i, dy[i] * y[i] * (1 - y[i]));
    return WG_OK;
}

const wg_op_desc wg_op_sigmoid = { "sigmoid", 1, sigmoid_backward };

wg_tensor *wg_sigmoid(wg_tape *t, wg_tensor *x)
{
    return wg_unary_op(t, &wg_op_sigmoid, x, wg_vsigmoid);
}
