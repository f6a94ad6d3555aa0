/* Ops defined by users: the node keeps the user's callbacks and context,
 * and backward calls them like any built-in op's backward. */
#include "ops.h"

static wg_status custom_backward(wg_tape *t, wg_node *n)
{
    const wg_custom_op *op = n->user_op;
    if (!op->backward) {
        wg_fail(t, WG_ESTATE, op->name ? op->name : "custom", "op has no backward");
        return t->status;
    }
    /* materialise the gradient buffers the callback may add into */
    for (int i = 0; i < n->n_in; i++)
        wg_in_grad(t, n, i);
    if (t->status != WG_OK)
        return t->status;
    wg_status s = op->backward(n->in, n->n_in, n->out, n->user_ctx);
    if (s != WG_OK)
        wg_fail(t, s, op->name ? op->name : "custom", "backward callback failed: %s",
                wg_strerror(s));
    return s;
}

const wg_op_desc wg_op_custom = { "custom", -1, custom_backward };

wg_tensor *wg_custom(wg_tape *t, const wg_custom_op *op, wg_tensor *const *in, int n_in,
                     wg_shape out_shape, void *ctx)
{
    const char *name = op && op->name ? op->name : "custom";
    if (!wg_op_begin(t, name, NULL, 0))
        return wg_poison(t);
    if (!op || !op->forward)
        return wg_fail(t, WG_EINVAL, name, "op or its forward callback is NULL");
    if (n_in < 0 || n_in > WG_MAX_INPUTS)
        return wg_fail(t, WG_EINVAL, name, "%d inputs: must be 0 to %d", n_in, WG_MAX_INPUTS);
    if (n_in > 0 && !in)
        return wg_fail(t, WG_EINVAL, name, "%d inputs but the input array is NULL", n_in);
    if (!wg_op_begin(t, name, in, n_in))
        return wg_poison(t);
    wg_tensor *y = wg_op_output(t, name, out_shape);
    if (!y)
        return wg_poison(t);
    wg_status s = op->forward(in, n_in, y, ctx);
    if (s != WG_OK)
        return wg_fail(t, s, name, "forward callback failed: %s", wg_strerror(s));
    if (wg_op_recording(t, in, n_in)) {
        wg_node *n = wg_op_record(t, &wg_op_custom, y, in, n_in);
        if (!n)
            return wg_poison(t);
        n->user_op = op;
        n->user_ctx = ctx;
    }
    return y;
}
