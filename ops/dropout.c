/* Inverted dropout: in training, y = x m / (1 - p) with m a Bernoulli(1 - p)
 * mask drawn from the caller's generator; the scaled mask is kept, so
 * backward is dy times it. Outside training y is x itself (no node), so
 * evaluation needs no rescaling. The mask is drawn serially, element by
 * element, so it depends only on the generator, not on the thread count. */
#include "ops.h"

#include <math.h>

static wg_status dropout_backward(wg_tape *t, wg_node *n)
{
    wg_real *gx = wg_in_grad(t, n, 0);
    if (!gx)
        return t->status;
    const wg_real *mask = n->saved, *dy = n->out->grad;
    const int64_t len = n->out->numel;
#pragma omp parallel for num_threads(wg_threads_for(len)) schedule(static)
    for (int64_t i = 0; i < len; i++)
        gx[i] += dy[i] * mask[i];
    return WG_OK;
}

const wg_op_desc wg_op_dropout = { "dropout", 1, dropout_backward };

wg_tensor *wg_dropout(wg_tape *t, wg_tensor *x, double p, bool training, wg_rng *rng)
{
    static const char *op = "dropout";
    if (!wg_op_begin(t, op, &x, 1))
        return wg_poison(t);
    if (!(p >= 0 && p < 1))
        return wg_fail(t, WG_EINVAL, op, "probability %g must be in [0, 1)", p);
    if (!training || p == 0)
        return x;
    if (!rng)
        return wg_fail(t, WG_EINVAL, op, "training needs a generator (rng is NULL)");
    wg_tensor *y = wg_op_output(t, op, x->shape);
    wg_real *mask = y ? wg_tape_alloc(t, op, (size_t)x->numel * sizeof(wg_real)) : NULL;
    if (!mask)
        return wg_poison(t);
    /* a tape holding a slice of a global batch draws the whole batch's
     * stream and keeps its rows: the masks one process would draw */
    int64_t skip_before = 0, skip_after = 0;
    if (t->slice_total > 0 && x->shape.ndim > 0) {
        const int64_t rows = x->shape.dim[0], per_row = rows ? x->numel / rows : 0;
        if (t->slice_first + rows > t->slice_total)
            return wg_fail(t, WG_ESHAPE, op, "%lld rows from row %lld exceed the batch slice "
                           "of %lld rows", (long long)rows, (long long)t->slice_first,
                           (long long)t->slice_total);
        skip_before = t->slice_first * per_row;
        skip_after = (t->slice_total - t->slice_first - rows) * per_row;
    }
    const wg_real keep = (wg_real)(1 / (1 - p));
    for (int64_t i = 0; i < skip_before; i++)
        wg_rng_next(rng);
    for (int64_t i = 0; i < x->numel; i++)
        mask[i] = wg_rng_uniform(rng) < p ? 0 : keep;
    for (int64_t i = 0; i < skip_after; i++)
        wg_rng_next(rng);
    for (int64_t i = 0; i < x->numel; i++)
        y->data[i] = x->data[i] * mask[i];
    if (wg_op_recording(t, &x, 1)) {
        wg_node *n = wg_op_record(t, &wg_op_dropout, y, &x, 1);
        if (!n)
            return wg_poison(t);
        n->saved = mask;
    }
    return y;
}
