/* Reverse-mode sweep: walk the tape from the newest node to the oldest,
 * each node adding its inputs' share of the gradient. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Anomaly mode: the first gradient a backward made non-finite, named by
 * its op and position on the tape. */
static wg_status check_grads(wg_tape *t, const wg_node *n)
{
    for (int i = 0; i < n->n_in; i++) {
        const wg_tensor *x = n->in[i];
        if (!x || !x->grad || !(x->flags & WG_F_REQ_GRAD))
            continue;
        int64_t k = wg_first_nonfinite(x->grad, x->numel);
        if (k >= 0) {
            /* a custom op is named by its own name, as in its other errors */
            const wg_custom_op *u = n->user_op;
            const char *op = u && u->name ? u->name : n->op->name;
            wg_fail(t, WG_ENONFINITE, op, "anomaly: the backward pass of node %d%s%s "
                    "produced %g at element %lld of the gradient of input %d%s%s", n->index,
                    n->out->name ? " " : "", n->out->name ? n->out->name : "", (double)x->grad[k],
                    (long long)k, i, x->name ? ", " : "", x->name ? x->name : "");
            return t->status;
        }
    }
    return WG_OK;
}

static wg_status sweep(wg_tape *t, wg_tensor *y, const wg_real *dy, const char *who)
{
    /* a second backward on the same recording starts the activations'
     * gradients afresh; parameters keep accumulating, as documented */
    for (wg_node *n = t->last; n; n = n->prev)
        n->out->grad = NULL;

    if (!(y->flags & WG_F_REQ_GRAD))
        return WG_OK; /* nothing upstream needs a gradient */
    if (!y->grad) {
        y->grad = wg_tape_alloc(t, who, (size_t)y->numel * sizeof(wg_real));
        if (!y->grad)
            return t->status;
        memcpy(y->grad, dy, (size_t)y->numel * sizeof(wg_real));
    } else {
        for (int64_t i = 0; i < y->numel; i++)
            y->grad[i] += dy[i];
    }
    for (wg_node *n = y->node; n; n = n->prev) {
        if (!n->out->grad)
            continue; /* no gradient reached this node */
        wg_status s = n->op->backward(t, n);
        if (s == WG_OK)
            s = t->status;
        if (s == WG_OK && wg_anomaly())
            s = check_grads(t, n);
        if (s != WG_OK) {
            if (t->status == WG_OK)
                wg_fail(t, s, n->op->name, "backward failed");
            return s;
        }
    }
    return WG_OK;
}

static wg_status check_target(wg_tape *t, wg_tensor *y, const char *who)
{
    if (!t) {
        wg_set_last_error(WG_EINVAL, "%s: NULL tape", who);
        return WG_EINVAL;
    }
    if (t->status != WG_OK)
        return t->status;
    if (!y) {
        wg_fail(t, WG_EINVAL, who, "tensor is NULL");
        return t->status;
    }
    if (y->flags & WG_F_POISON) {
        wg_fail(t, WG_EINVAL, who, "tensor is the result of a failed tape");
        return t->status;
    }
    if (y->tape && y->tape != t) {
        wg_fail(t, WG_EINVAL, who, "tensor belongs to another tape");
        return t->status;
    }
    return WG_OK;
}

wg_status wg_backward(wg_tape *t, wg_tensor *loss)
{
    wg_status s = check_target(t, loss, "backward");
    if (s != WG_OK)
        return s;
    if (loss->numel != 1) {
        wg_shape_buf b;
        wg_fail(t, WG_ESHAPE, "backward", "loss must have one element, not %s",
                wg_shp(loss, &b));
        return t->status;
    }
    if (!isfinite((double)loss->data[0])) {
        /* name the op even when nothing was recorded (no node) */
        const char *op = loss->node ? loss->node->op->name : loss->op ? loss->op : "a leaf";
        char where[96] = "";
        if (loss->node)
            snprintf(where, sizeof where, " (node %d%s%s)", loss->node->index,
                     loss->name ? ", " : "", loss->name ? loss->name : "");
        else if (loss->name)
            snprintf(where, sizeof where, " (%s)", loss->name);
        wg_fail(t, WG_ENONFINITE, "backward", "loss from %s%s is %g", op, where,
                (double)loss->data[0]);
        return t->status;
    }
    const wg_real one = 1;
    return sweep(t, loss, &one, "backward");
}

wg_status wg_backward_from(wg_tape *t, wg_tensor *y, const wg_real *dy)
{
    wg_status s = check_target(t, y, "backward_from");
    if (s != WG_OK)
        return s;
    if (!dy) {
        wg_fail(t, WG_EINVAL, "backward_from", "seed gradient is NULL");
        return t->status;
    }
    return sweep(t, y, dy, "backward_from");
}
