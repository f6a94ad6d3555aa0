/* y = tanh(x); dy/dx = 1 - y^2, taken from the output. */
#include "ops.h"

static wg_status tanh_backward(wg_tape *t, wg_node *n)
{
    bool acc;
    wg_real *gx = wg_in_grad_dst(t, n, 0, &acc);
    if (!gx)
        return t->status;
    const wg_real *y = n->out->data, *dy = n->out->grad;
    WG_GRAD_LOOP(acc, n->out->numel, gx, i, dy[i] * (1 - y[i] * y[i]));
    return WG_OK;
}

const wg_op_desc wg_op_tanh = { "tanh", 1, tanh_backward };

wg_tensor *wg_tanh(wg_tape *t, wg_tensor *x)
{
    return wg_unary_op(t, &wg_op_tanh, x, wg_vtanh);
}
