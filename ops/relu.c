/* y = max(x, 0); dy/dx = 1 where x > 0, else 0 (0 at 0, as PyTorch). The
 * output tells the same as the input: y > 0 exactly where x > 0. */
#include "ops.h"

static void relu_fwd(int64_t n, const wg_real *x, wg_real *y)
{
    /* one select the compiler vectorises; asking "v <= 0" rather than
     * "v > 0" lets a NaN through, as PyTorch does (a separate serial pass
     * put NaNs back before: 1% of a wide_mlp step) */
#pragma omp parallel for num_threads(wg_threads_for(n)) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        wg_real v = x[i];
        y[i] = v <= 0 ? 0 : v;
    }
}

static inline wg_real pass_positive(wg_real y, wg_real dy)
{
    return y <= 0 ? 0 : dy;
}

static wg_status relu_backward(wg_tape *t, wg_node *n)
{
    bool acc;
    wg_real *gx = wg_in_grad_dst(t, n, 0, &acc);
    if (!gx)
        return t->status;
    const wg_real *y = n->out->data, *dy = n->out->grad;
    /* a NaN passes the gradient, as in PyTorch. Both values are loaded
     * before the select (passed to a function): with dy[i] read in one arm
     * only, GCC kept a branch, mispredicted half the time on real
     * activations (4% of a wide_mlp step) */
    WG_GRAD_LOOP(acc, n->out->numel, gx, i, pass_positive(y[i], dy[i]));
    return WG_OK;
}

const wg_op_desc wg_op_relu = { "relu", 1, relu_backward };

wg_tensor *wg_relu(wg_tape *t, wg_tensor *x)
{
    return wg_unary_op(t, &wg_op_relu, x, relu_fwd);
}
