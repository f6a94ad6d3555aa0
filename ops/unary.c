/* The frame shared by element-wise unary ops: validate, compute, record. */
#include "ops.h"

wg_tensor *wg_unary_op(wg_tape *t, const wg_op_desc *d, wg_tensor *x,
                       void (*f)(int64_t n, const wg_real *x, wg_real *y))
{
    if (!wg_op_begin(t, d->name, &x, 1))
        return wg_poison(t);
    wg_tensor *y = wg_op_output(t, d->name, x->shape);
    if (!y)
        return wg_poison(t);
    f(x->numel, x->data, y->data);
    if (wg_op_recording(t, &x, 1) && !wg_op_record(t, d, y, &x, 1))
        return wg_poison(t);
    return y;
}
