/* 2-D cross-correlation as im2col + GEMM, one image at a time.
 *
 * Forward, per image n: col = im2col(x_n) [C*KH*KW x OH*OW], y_n = W col + b.
 * Backward, per image: dx_n = col2im(Wᵀ dy_n); dW += dy_n colᵀ; db += Σ dy_n.
 * Images run in parallel. The weight gradient sums over images, so images
 * are grouped in chunks fixed by the batch size alone; each chunk sums its
 * images in order into its own buffer and the chunks are added in order:
 * the same bits at any thread count. When recording, the forward keeps
 * every image's col for the weight gradient (for LeNet-5 at batch 64 about
 * 9 MB of tape), which saves doing im2col twice. */
#include "ops.h"

#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#define THREAD_ID omp_get_thread_num()
#else
#define THREAD_ID 0
#endif

enum { HP_SH, HP_SW, HP_PT, HP_PB, HP_PL, HP_PR };

typedef struct {
    int n, c, h, w, o, kh, kw, oh, ow, sh, sw, pt, pl;
} geom;

static geom geometry(const wg_node *nd)
{
    const wg_tensor *x = nd->in[0], *w = nd->in[1], *y = nd->out;
    return (geom){ (int)x->shape.dim[0], (int)x->shape.dim[1], (int)x->shape.dim[2],
                   (int)x->shape.dim[3], (int)w->shape.dim[0], (int)w->shape.dim[2],
                   (int)w->shape.dim[3], (int)y->shape.dim[2], (int)y->shape.dim[3],
                   (int)nd->hp[HP_SH], (int)nd->hp[HP_SW], (int)nd->hp[HP_PT],
                   (int)nd->hp[HP_PL] };
}

/* The output columns q whose input column q*sw - pl + j lies inside
 * [0, w): q in [lo, hi). Computed once per kernel column, so the copies
 * below need no bounds test per element. */
static void valid_cols(const geom *g, int j, int *lo, int *hi)
{
    int a = g->pl - j; /* q*sw >= a */
    int l = a <= 0 ? 0 : (a + g->sw - 1) / g->sw;
    int b = g->w - 1 + g->pl - j; /* q*sw <= b */
    int h = b < 0 ? 0 : b / g->sw + 1;
    *lo = l < g->ow ? l : g->ow;
    *hi = h < g->ow ? h : g->ow;
    if (*hi < *lo)
        *hi = *lo;
}

/* col[(c, i, j)][(p, q)] = x[c][p*sh - pt + i][q*sw - pl + j], 0 outside */
static void im2col(const geom *g, const wg_real *x, wg_real *col)
{
    const int ohw = g->oh * g->ow;
    for (int c = 0; c < g->c; c++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++) {
                wg_real *row = col + ((int64_t)(c * g->kh + i) * g->kw + j) * ohw;
                const wg_real *xc = x + (int64_t)c * g->h * g->w;
                int lo, hi;
                valid_cols(g, j, &lo, &hi);
                for (int p = 0; p < g->oh; p++) {
                    int r = p * g->sh - g->pt + i;
                    wg_real *dst = row + p * g->ow;
                    if (r < 0 || r >= g->h || lo == hi) {
                        memset(dst, 0, (size_t)g->ow * sizeof *dst);
                        continue;
                    }
                    /* input column of output column q: q*sw + off, inside for lo <= q < hi */
                    const wg_real *src = xc + (int64_t)r * g->w;
                    const int off = j - g->pl;
                    for (int q = 0; q < lo; q++)
                        dst[q] = 0;
                    if (g->sw == 1)
                        memcpy(dst + lo, src + lo + off, (size_t)(hi - lo) * sizeof *dst);
                    else
                        for (int q = lo; q < hi; q++)
                            dst[q] = src[q * g->sw + off];
                    for (int q = hi; q < g->ow; q++)
                        dst[q] = 0;
                }
            }
}

/* the adjoint of im2col: dx[c][r][s] += every col entry that copied it */
static void col2im(const geom *g, const wg_real *col, wg_real *dx)
{
    const int ohw = g->oh * g->ow;
    for (int c = 0; c < g->c; c++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++) {
                const wg_real *row = col + ((int64_t)(c * g->kh + i) * g->kw + j) * ohw;
                wg_real *xc = dx + (int64_t)c * g->h * g->w;
                int lo, hi;
                valid_cols(g, j, &lo, &hi);
                for (int p = 0; p < g->oh; p++) {
                    int r = p * g->sh - g->pt + i;
                    if (r < 0 || r >= g->h)
                        continue;
                    const wg_real *src = row + p * g->ow;
                    wg_real *dst = xc + (int64_t)r * g->w;
                    const int off = j - g->pl;
                    for (int q = lo; q < hi; q++)
                        dst[q * g->sw + off] += src[q];
                }
            }
}

/* Chunks of images for the weight-gradient sum: fixed by the batch size,
 * at most 16 of them so their buffers stay small. */
static int chunk_size(int n)
{
    int size = (n + 15) / 16;
    return size < 4 ? 4 : size;
}

static wg_status conv2d_backward(wg_tape *t, wg_node *nd)
{
    const geom g = geometry(nd);
    const wg_tensor *w = nd->in[1];
    const wg_real *dy = nd->out->grad;
    wg_real *dx = wg_in_grad(t, nd, 0);
    wg_real *dw = wg_in_grad(t, nd, 1);
    wg_real *db = nd->n_in > 2 ? wg_in_grad(t, nd, 2) : NULL;
    if (t->status != WG_OK)
        return t->status;
    const int ohw = g.oh * g.ow, ckk = g.c * g.kh * g.kw;
    const int64_t xs = (int64_t)g.c * g.h * g.w, ys = (int64_t)g.o * ohw;
    const int64_t wsize = (int64_t)g.o * ckk;

    if (db) {
        for (int o = 0; o < g.o; o++) {
            double s = 0;
            for (int n = 0; n < g.n; n++) {
                const wg_real *d = dy + n * ys + (int64_t)o * ohw;
                for (int k = 0; k < ohw; k++)
                    s += d[k];
            }
            db[o] += (wg_real)s;
        }
    }
    if (!dx && !dw)
        return WG_OK;

    const int csize = chunk_size(g.n), chunks = (g.n + csize - 1) / csize;
    const int threads = wg_threads_for((int64_t)g.n * ys * ckk);
    const wg_real *cols = nd->saved; /* every image's im2col, from the forward */
    wg_real *dcols = dx ? wg_tape_alloc(t, "conv2d", (size_t)threads * ckk * ohw * sizeof(wg_real))
                        : NULL;
    wg_real *dwc = dw ? wg_tape_calloc(t, "conv2d", (size_t)chunks * wsize * sizeof(wg_real))
                      : NULL;
    if (t->status != WG_OK)
        return t->status;

#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (threads > 1)
    for (int ch = 0; ch < chunks; ch++) {
        wg_real *dcol = dcols ? dcols + (int64_t)THREAD_ID * ckk * ohw : NULL;
        int end = (ch + 1) * csize < g.n ? (ch + 1) * csize : g.n;
        for (int n = ch * csize; n < end; n++) {
            const wg_real *dyn = dy + n * ys;
            if (dw) /* dW_chunk [O x CKK] += dy_n [O x OHW] colᵀ */
                wg_gemm(false, true, g.o, ckk, ohw, 1, dyn, ohw, cols + n * (int64_t)ckk * ohw,
                        ohw, 1, dwc + ch * wsize, ckk);
            if (dx) { /* dcol [CKK x OHW] = Wᵀ dy_n */
                wg_gemm(true, false, ckk, ohw, g.o, 1, w->data, ckk, dyn, ohw, 0, dcol, ohw);
                col2im(&g, dcol, dx + n * xs);
            }
        }
    }
    if (dw)
        for (int ch = 0; ch < chunks; ch++)
            for (int64_t k = 0; k < wsize; k++)
                dw[k] += dwc[ch * wsize + k];
    return WG_OK;
}

const wg_op_desc wg_op_conv2d = { "conv2d", 3, conv2d_backward };

wg_tensor *wg_conv2d_ex(wg_tape *t, wg_tensor *x, wg_tensor *w, wg_tensor *b, wg_conv2d_opts o)
{
    static const char *op = "conv2d";
    wg_tensor *in[3] = { x, w, b };
    const int n_in = b ? 3 : 2;
    if (!wg_op_begin(t, op, in, n_in))
        return wg_poison(t);
    wg_shape_buf sx, sw, sb;
    if (x->shape.ndim != 4 || w->shape.ndim != 4)
        return wg_fail(t, WG_ESHAPE, op, "input %s, weight %s: expected [N x C x H x W] and "
                       "[O x C x KH x KW]", wg_shp(x, &sx), wg_shp(w, &sw));
    for (int i = 0; i < 4; i++)
        if (!WG_FITS_INT(x->shape.dim[i]) || !WG_FITS_INT(w->shape.dim[i]))
            return wg_fail(t, WG_ESHAPE, op, "input %s, weight %s: a dimension is too large",
                           wg_shp(x, &sx), wg_shp(w, &sw));
    if (x->shape.dim[1] != w->shape.dim[1])
        return wg_fail(t, WG_ESHAPE, op, "input %s, weight %s: input has %lld channels, weight "
                       "expects %lld", wg_shp(x, &sx), wg_shp(w, &sw),
                       (long long)x->shape.dim[1], (long long)w->shape.dim[1]);
    if (w->shape.dim[0] < 1 || w->shape.dim[2] < 1 || w->shape.dim[3] < 1)
        return wg_fail(t, WG_ESHAPE, op, "weight %s: needs at least one filter of size >= 1x1",
                       wg_shp(w, &sw));
    if (b && (b->shape.ndim != 1 || b->shape.dim[0] != w->shape.dim[0]))
        return wg_fail(t, WG_ESHAPE, op, "weight %s, bias %s: bias must be [%lld]",
                       wg_shp(w, &sw), wg_shp(b, &sb), (long long)w->shape.dim[0]);
    if (o.stride_h < 1 || o.stride_w < 1)
        return wg_fail(t, WG_EINVAL, op, "stride %d x %d: must be >= 1", o.stride_h, o.stride_w);
    if (o.pad_top < 0 || o.pad_bottom < 0 || o.pad_left < 0 || o.pad_right < 0)
        return wg_fail(t, WG_EINVAL, op, "padding (top %d, bottom %d, left %d, right %d): must "
                       "be >= 0", o.pad_top, o.pad_bottom, o.pad_left, o.pad_right);
    const int64_t ph = x->shape.dim[2] + o.pad_top + o.pad_bottom;
    const int64_t pw = x->shape.dim[3] + o.pad_left + o.pad_right;
    if (ph < w->shape.dim[2] || pw < w->shape.dim[3])
        return wg_fail(t, WG_ESHAPE, op, "input %s, weight %s: kernel %lldx%lld is larger than "
                       "the padded input %lldx%lld", wg_shp(x, &sx), wg_shp(w, &sw),
                       (long long)w->shape.dim[2], (long long)w->shape.dim[3], (long long)ph,
                       (long long)pw);
    const int64_t oh = (ph - w->shape.dim[2]) / o.stride_h + 1;
    const int64_t ow = (pw - w->shape.dim[3]) / o.stride_w + 1;
    const int64_t ckk = w->shape.dim[1] * w->shape.dim[2] * w->shape.dim[3];
    if (!WG_FITS_INT(oh * ow) || !WG_FITS_INT(ckk) || !WG_FITS_INT(ckk * oh * ow))
        return wg_fail(t, WG_ESHAPE, op, "input %s, weight %s: too large", wg_shp(x, &sx),
                       wg_shp(w, &sw));
    wg_tensor *y = wg_op_output(t, op, WG_SHAPE(x->shape.dim[0], w->shape.dim[0], oh, ow));
    if (!y)
        return wg_poison(t);

    wg_node tmp = { .n_in = n_in, .out = y, .in = { x, w, b } };
    tmp.hp[HP_SH] = o.stride_h;
    tmp.hp[HP_SW] = o.stride_w;
    tmp.hp[HP_PT] = o.pad_top;
    tmp.hp[HP_PB] = o.pad_bottom;
    tmp.hp[HP_PL] = o.pad_left;
    tmp.hp[HP_PR] = o.pad_right;
    const geom g = geometry(&tmp);
    const int ohw = g.oh * g.ow;
    const int64_t xs = (int64_t)g.c * g.h * g.w, ys = (int64_t)g.o * ohw;
    const int threads = wg_threads_for((int64_t)g.n * ys * ckk);
    /* when recording, every image's col is kept for the weight gradient;
     * otherwise each thread reuses one */
    const bool rec = wg_op_recording(t, in, n_in);
    const int64_t ncols = rec ? g.n : threads;
    wg_real *cols = wg_tape_alloc(t, op, (size_t)ncols * ckk * ohw * sizeof(wg_real));
    if (!cols)
        return wg_poison(t);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int n = 0; n < g.n; n++) {
        wg_real *col = cols + (rec ? n : THREAD_ID) * (int64_t)ckk * ohw;
        wg_real *yn = y->data + n * ys;
        im2col(&g, x->data + n * xs, col);
        wg_gemm(false, false, g.o, ohw, (int)ckk, 1, w->data, (int)ckk, col, ohw, 0, yn, ohw);
        if (b)
            for (int oc = 0; oc < g.o; oc++)
                for (int k = 0; k < ohw; k++)
                    yn[(int64_t)oc * ohw + k] += b->data[oc];
    }
    if (rec) {
        wg_node *nd = wg_op_record(t, &wg_op_conv2d, y, in, n_in);
        if (!nd)
            return wg_poison(t);
        nd->saved = cols;
        for (int i = 0; i < WG_MAX_HP; i++)
            nd->hp[i] = tmp.hp[i];
    }
    return y;
}

wg_tensor *wg_conv2d(wg_tape *t, wg_tensor *x, wg_tensor *w, wg_tensor *b, int stride, int padding)
{
    return wg_conv2d_ex(t, x, w, b,
                        (wg_conv2d_opts){ stride, stride, padding, padding, padding, padding });
}
