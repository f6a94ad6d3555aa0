/* C = op(A) op(B) with op the identity or the transpose: the three forms a
 * network needs (x W for plain products, x Wᵀ for a linear layer with
 * PyTorch's [out x in] weights, Aᵀ B for gradients). One op, the flags in
 * the node: the backward is the same two products in each form. */
#include "ops.h"

#include <limits.h>

enum { HP_TA, HP_TB };

static wg_status matmul_backward(wg_tape *t, wg_node *n)
{
    const bool ta = n->hp[HP_TA], tb = n->hp[HP_TB];
    const wg_tensor *A = n->in[0], *B = n->in[1];
    const int m = (int)n->out->shape.dim[0], nn = (int)n->out->shape.dim[1];
    const int k = (int)(ta ? A->shape.dim[0] : A->shape.dim[1]);
    const int lda = (int)A->shape.dim[1], ldb = (int)B->shape.dim[1];
    const wg_real *dc = n->out->grad;
    /* a fresh buffer (beta 0) is written, not added to */
    bool acc;
    wg_real *ga = wg_in_grad_dst(t, n, 0, &acc);
    if (ga) {
        if (!ta) /* dA [m x k] = dC op(B)ᵀ */
            wg_gemm(false, !tb, m, k, nn, 1, dc, nn, B->data, ldb, acc, ga, k);
        else     /* dA [k x m] = op(B) dCᵀ */
            wg_gemm(tb, true, k, m, nn, 1, B->data, ldb, dc, nn, acc, ga, m);
    }
    wg_real *gb = wg_in_grad_dst(t, n, 1, &acc);
    if (gb) {
        if (!tb) /* dB [k x n] = op(A)ᵀ dC */
            wg_gemm(!ta, false, k, nn, m, 1, A->data, lda, dc, nn, acc, gb, nn);
        else     /* dB [n x k] = dCᵀ op(A) */
            wg_gemm(true, ta, nn, k, m, 1, dc, nn, A->data, lda, acc, gb, k);
    }
    return t->status;
}

const wg_op_desc wg_op_matmul = { "matmul", 2, matmul_backward };

static wg_tensor *matmul(wg_tape *t, const char *name, wg_tensor *a, wg_tensor *b, bool ta,
                         bool tb)
{
    wg_tensor *in[2] = { a, b };
    if (!wg_op_begin(t, name, in, 2))
        return wg_poison(t);
    wg_shape_buf x, y;
    const char *sa = ta ? "ᵀ" : "", *sb = tb ? "ᵀ" : "";
    if (a->shape.ndim != 2 || b->shape.ndim != 2)
        return wg_fail(t, WG_ESHAPE, name, "%s%s @ %s%s: both operands must be 2-D",
                       wg_shp(a, &x), sa, wg_shp(b, &y), sb);
    int64_t m = a->shape.dim[ta ? 1 : 0], ka = a->shape.dim[ta ? 0 : 1];
    int64_t kb = b->shape.dim[tb ? 1 : 0], nn = b->shape.dim[tb ? 0 : 1];
    if (ka != kb)
        return wg_fail(t, WG_ESHAPE, name, "%s%s @ %s%s: inner dimensions differ",
                       wg_shp(a, &x), sa, wg_shp(b, &y), sb);
    if (!WG_FITS_INT(a->shape.dim[0]) || !WG_FITS_INT(a->shape.dim[1]) ||
        !WG_FITS_INT(b->shape.dim[0]) || !WG_FITS_INT(b->shape.dim[1]))
        return wg_fail(t, WG_ESHAPE, name, "%s%s @ %s%s: a dimension exceeds %d", wg_shp(a, &x),
                       sa, wg_shp(b, &y), sb, INT_MAX);
    wg_tensor *c = wg_op_output(t, name, WG_SHAPE(m, nn));
    if (!c)
        return wg_poison(t);
    if (ka == 0) {
        for (int64_t i = 0; i < c->numel; i++)
            c->data[i] = 0;
    } else {
        wg_gemm(ta, tb, (int)m, (int)nn, (int)ka, 1, a->data, (int)a->shape.dim[1], b->data,
                (int)b->shape.dim[1], 0, c->data, (int)nn);
    }
    if (wg_op_recording(t, in, 2)) {
        wg_node *n = wg_op_record(t, &wg_op_matmul, c, in, 2);
        if (!n)
            return wg_poison(t);
        n->hp[HP_TA] = ta;
        n->hp[HP_TB] = tb;
    }
    return c;
}

wg_tensor *wg_matmul(wg_tape *t, wg_tensor *a, wg_tensor *b)
{
    return matmul(t, "matmul", a, b, false, false);
}

wg_tensor *wg_matmul_nt(wg_tape *t, wg_tensor *a, wg_tensor *b)
{
    return matmul(t, "matmul_nt", a, b, false, true);
}

wg_tensor *wg_matmul_tn(wg_tape *t, wg_tensor *a, wg_tensor *b)
{
    return matmul(t, "matmul_tn", a, b, true, false);
}
