/* y = max(x, 0); dy/dx = 1 where x > 0, else 0 (0 at 0, as PyTorch). The
 * output tells the same as the input: y > 0 exactly where x > 0. */
#include "ops.h"

static void relu_fwd(int64_t n, const wg_real *x, wg_real *y)
{
    /* a select the compiler vectorises; then NaNs, rare, put back as
     * PyTorch keeps them */
#pragma omp parallel for num_threads(wg_threads_for(n)) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        wg_real v = x[i];
        y[i] = v > 0 ? v : 0;
    }
    for (int64_t i = 0; i < n; i++)
        if (x[i] != x[i])
            y[i] = x[i];
}

static wg_status relu_backward(wg_tape *t, wg_node *n)
{
    bool acc;
    wg_real *gx = wg_in_grad_dst(t, n, 0, &acc);
    if (!gx)
        return t->status;
    const wg_real *y = n->out->data, *dy = n->out->grad;
    /* a NaN passes the gradient, as in PyTorch */
    WG_GRAD_LOOP(acc, n->out->numel, gx, i, y[i] <= 0 ? 0 : dy[i]);
    return WG_OK;
}

const wg_op_desc wg_op_relu = { "relu", 1, relu_backward };

wg_tensor *wg_relu(wg_tape *t, wg_tensor *x)
{
    return wg_unary_op(t, &wg_op_relu, x, relu_fwd);
}
