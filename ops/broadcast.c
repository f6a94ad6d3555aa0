/* Broadcasting for the element-wise binary ops, PyTorch's rule: shapes
 * align from the right and each pair of extents is equal or one is 1.
 * The plan merges adjacent dimensions so the common cases (same shape, a
 * bias over rows, a bias over channels) run as one or two flat loops. */
#include "ops.h"

#include <string.h>

bool wg_bcast_plan(wg_tape *t, const char *op, const char *sym, const wg_tensor *a,
                   const wg_tensor *b, wg_shape *out, wg_bcast *p)
{
    int nd = a->shape.ndim > b->shape.ndim ? a->shape.ndim : b->shape.ndim;
    wg_shape o = { nd, { 0 } };
    int64_t da[WG_MAX_DIMS], db[WG_MAX_DIMS];
    for (int i = 0; i < nd; i++) {
        int ia = i - (nd - a->shape.ndim), ib = i - (nd - b->shape.ndim);
        da[i] = ia >= 0 ? a->shape.dim[ia] : 1;
        db[i] = ib >= 0 ? b->shape.dim[ib] : 1;
        if (da[i] != db[i] && da[i] != 1 && db[i] != 1) {
            wg_shape_buf x, y;
            wg_fail(t, WG_ESHAPE, op, "%s %s %s: dimension %d differs (%lld vs %lld) and neither is 1",
                    wg_shp(a, &x), sym, wg_shp(b, &y), i, (long long)da[i], (long long)db[i]);
            return false;
        }
        o.dim[i] = da[i] == 1 ? db[i] : da[i];
    }
    /* contiguous strides of each operand, 0 along its broadcast dimensions */
    int64_t sa[WG_MAX_DIMS], sb[WG_MAX_DIMS], ra = 1, rb = 1;
    for (int i = nd - 1; i >= 0; i--) {
        sa[i] = da[i] == 1 && o.dim[i] != 1 ? 0 : ra;
        sb[i] = db[i] == 1 && o.dim[i] != 1 ? 0 : rb;
        ra *= da[i];
        rb *= db[i];
    }
    memset(p, 0, sizeof *p);
    p->numel = wg_shape_numel(&o);
    p->a_full = a->numel == p->numel;
    p->b_full = b->numel == p->numel;
    /* drop extents of 1, then merge neighbours that stay contiguous */
    int m = 0;
    for (int i = 0; i < nd; i++) {
        if (o.dim[i] == 1)
            continue;
        if (m > 0 && sa[i] * o.dim[i] == p->sa[m - 1] && sb[i] * o.dim[i] == p->sb[m - 1]) {
            p->dim[m - 1] *= o.dim[i];
            p->sa[m - 1] = sa[i];
            p->sb[m - 1] = sb[i];
        } else {
            p->dim[m] = o.dim[i];
            p->sa[m] = sa[i];
            p->sb[m] = sb[i];
            m++;
        }
    }
    if (m == 0) { /* every extent is 1: one element */
        p->dim[0] = 1;
        p->sa[0] = p->sb[0] = 1;
        m = 1;
    }
    p->nd = m;
    *out = o;
    return true;
}

/* Offsets of the start of row r (all dimensions but the last). */
static void row_offsets(const wg_bcast *p, int64_t r, int64_t *oa, int64_t *ob)
{
    int64_t a = 0, b = 0;
    for (int i = p->nd - 2; i >= 0; i--) {
        int64_t k = r % p->dim[i];
        r /= p->dim[i];
        a += k * p->sa[i];
        b += k * p->sb[i];
    }
    *oa = a;
    *ob = b;
}

/* One output row from two contiguous rows: loops the compiler vectorises
 * (strides of 1 it can see, and no overlap with the output). */
static void contiguous_row(wg_bin_kind kind, int64_t n, const wg_real *restrict a,
                           const wg_real *restrict b, wg_real *restrict y)
{
    switch (kind) {
    case WG_BIN_ADD:
        for (int64_t j = 0; j < n; j++)
            y[j] = a[j] + b[j];
        break;
    case WG_BIN_SUB:
        for (int64_t j = 0; j < n; j++)
            y[j] = a[j] - b[j];
        break;
    case WG_BIN_MUL:
        for (int64_t j = 0; j < n; j++)
            y[j] = a[j] * b[j];
        break;
    }
}

/* g += coef * dy (* other) along a row, every stride 1: vectorises */
static void accum_contiguous(int64_t n, wg_real coef, const wg_real *restrict dy,
                             const wg_real *restrict other, wg_real *restrict g, bool acc)
{
    if (other && acc)
        for (int64_t j = 0; j < n; j++)
            g[j] += coef * dy[j] * other[j];
    else if (other)
        for (int64_t j = 0; j < n; j++)
            g[j] = coef * dy[j] * other[j];
    else if (acc)
        for (int64_t j = 0; j < n; j++)
            g[j] += coef * dy[j];
    else
        for (int64_t j = 0; j < n; j++)
            g[j] = coef * dy[j];
}

void wg_bcast_forward(const wg_bcast *p, wg_bin_kind kind, const wg_real *a, const wg_real *b,
                      wg_real *y)
{
    const int64_t inner = p->dim[p->nd - 1], rows = p->numel / (inner ? inner : 1);
    const int64_t ia = p->sa[p->nd - 1], ib = p->sb[p->nd - 1];
    if (rows == 1) {
#pragma omp parallel for num_threads(wg_threads_for(inner)) schedule(static)
        for (int64_t j = 0; j < inner; j++) {
            wg_real u = a[j * ia], v = b[j * ib];
            y[j] = kind == WG_BIN_ADD ? u + v : kind == WG_BIN_SUB ? u - v : u * v;
        }
        return;
    }
#pragma omp parallel for num_threads(wg_threads_for(p->numel)) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        int64_t oa, ob;
        row_offsets(p, r, &oa, &ob);
        const wg_real *ar = a + oa, *br = b + ob;
        wg_real *yr = y + r * inner;
        if (ia == 1 && ib == 1) { /* both rows contiguous (a bias row, say) */
            contiguous_row(kind, inner, ar, br, yr);
            continue;
        }
        switch (kind) {
        case WG_BIN_ADD:
            for (int64_t j = 0; j < inner; j++)
                yr[j] = ar[j * ia] + br[j * ib];
            break;
        case WG_BIN_SUB:
            for (int64_t j = 0; j < inner; j++)
                yr[j] = ar[j * ia] - br[j * ib];
            break;
        case WG_BIN_MUL:
            for (int64_t j = 0; j < inner; j++)
                yr[j] = ar[j * ia] * br[j * ib];
            break;
        }
    }
}

void wg_bcast_accum(const wg_bcast *p, int which, const wg_real *dy, const wg_real *other,
                    wg_real coef, wg_real *g, bool acc)
{
    const int64_t inner = p->dim[p->nd - 1], rows = p->numel / (inner ? inner : 1);
    const int64_t *sx = which ? p->sb : p->sa, *so = which ? p->sa : p->sb;
    const int64_t ix = sx[p->nd - 1], io = so[p->nd - 1];
    /* an operand with the output's shape receives each element once, so
     * rows may run in parallel; a broadcast one sums many output elements
     * into one, serially in row order, so the bits never depend on threads */
    const bool full = which ? p->b_full : p->a_full;
    int threads = full ? wg_threads_for(p->numel) : 1;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t r = 0; r < rows; r++) {
        int64_t oa, ob;
        row_offsets(p, r, &oa, &ob);
        wg_real *gr = g + (which ? ob : oa);
        const wg_real *orow = other ? other + (which ? oa : ob) : NULL;
        const wg_real *dyr = dy + r * inner;
        if (ix == 1 && (!orow || io == 1))
            accum_contiguous(inner, coef, dyr, orow, gr, acc);
        else if (!acc) /* full: this operand's elements, one to one */
            for (int64_t j = 0; j < inner; j++)
                gr[j * ix] = coef * dyr[j] * (orow ? orow[j * io] : 1);
        else if (orow)
            for (int64_t j = 0; j < inner; j++)
                gr[j * ix] += coef * dyr[j] * orow[j * io];
        else
            for (int64_t j = 0; j < inner; j++)
                gr[j * ix] += coef * dyr[j];
    }
}

wg_tensor *wg_binary_op(wg_tape *t, const wg_op_desc *d, const char *sym, wg_bin_kind kind,
                        wg_tensor *a, wg_tensor *b)
{
    wg_tensor *in[2] = { a, b };
    if (!wg_op_begin(t, d->name, in, 2))
        return wg_poison(t);
    wg_shape shape;
    wg_bcast plan;
    if (!wg_bcast_plan(t, d->name, sym, a, b, &shape, &plan))
        return wg_poison(t);
    wg_tensor *y = wg_op_output(t, d->name, shape);
    if (!y)
        return wg_poison(t);
    if (plan.numel)
        wg_bcast_forward(&plan, kind, a->data, b->data, y->data);
    if (wg_op_recording(t, in, 2)) {
        wg_bcast *saved = wg_tape_alloc(t, d->name, sizeof *saved);
        if (!saved)
            return wg_poison(t);
        *saved = plan;
        wg_node *n = wg_op_record(t, d, y, in, 2);
        if (!n)
            return wg_poison(t);
        n->saved = saved;
    }
    return y;
}

/* Operand i's gradient buffer; a fresh one is set rather than added to
 * only when each of its elements receives exactly one output element */
static wg_real *operand_grad(wg_tape *t, wg_node *n, int i, bool full, bool *acc)
{
    wg_real *g = wg_in_grad_dst(t, n, i, acc);
    if (g && !*acc && !full) {
        memset(g, 0, (size_t)n->in[i]->numel * sizeof *g);
        *acc = true;
    }
    return g;
}

wg_status wg_binary_backward(wg_tape *t, wg_node *n, wg_bin_kind kind)
{
    const wg_bcast *p = n->saved;
    const wg_real *dy = n->out->grad;
    if (!p->numel)
        return WG_OK;
    bool acc;
    wg_real *ga = operand_grad(t, n, 0, p->a_full, &acc);
    if (ga)
        wg_bcast_accum(p, 0, dy, kind == WG_BIN_MUL ? n->in[1]->data : NULL, 1, ga, acc);
    wg_real *gb = operand_grad(t, n, 1, p->b_full, &acc);
    if (gb)
        wg_bcast_accum(p, 1, dy, kind == WG_BIN_MUL ? n->in[0]->data : NULL,
                       kind == WG_BIN_SUB ? -1 : 1, gb, acc);
    return t->status;
}
