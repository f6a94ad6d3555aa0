/* 2-D cross-correlation as im2col + GEMM over chunks of images.
 *
 * The batch is cut into chunks of images (chunk_images: fixed by the shape
 * alone). Forward, per chunk: col = im2col of its images side by side
 * [C*KH*KW x columns], one GEMM W col, then each image's planes out of the
 * product with the bias added. Backward, per chunk: dy gathered into
 * [O x columns]; dW_chunk = dy colᵀ, one GEMM whose inner dimension runs
 * over every position of every image of the chunk; dcol = Wᵀ dy, put back
 * onto each image by col2im; db sums dy. Chunks run in parallel; each has
 * its own dW buffer and the buffers are added in chunk order: the same bits
 * at any thread count. The backward makes each chunk's col again rather
 * than keeping the forward's: for LeNet-5 at batch 64 that would be 11 MB
 * of tape written out of the caches and read back, which measured no
 * faster than the copies it saves. One GEMM per chunk rather than per image
 * because LeNet's products are small (16 x 150 x 100 per image): BLAS
 * reaches its speed only with a few hundred columns.
 *
 * With stride 1 the columns are "wide": an output row is computed at every
 * column of the padded input row (WP of them instead of OW), so that each
 * row of col is one contiguous run of the padded image, OH*WP long, and
 * im2col and col2im become long copies and additions instead of runs of OW
 * (10 for LeNet's second layer). The WP - OW extra columns per row cost
 * GEMM work (40% for LeNet's conv2, 14% for conv1) but far less than the
 * short copies did; they are dropped from the output, their gradient is
 * zero, and what they read lies inside the image's own padded copy. */
#include "ops.h"

#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#define THREAD_ID omp_get_thread_num()
#else
#define THREAD_ID 0
#endif

enum { HP_SH, HP_SW, HP_PT, HP_PB, HP_PL, HP_PR };

/* the widest vector of the direct kernels, in elements */
#define WG_DIRECT_SLACK 16

typedef struct {
    int n, c, h, w, o, kh, kw, oh, ow, sh, sw, pt, pl;
    /* the column layout: `len` columns per image, an output row every
     * `rs` columns (OW, or WP when wide); the padded plane of a wide conv */
    bool wide;
    int hp, wp, rs;
    int64_t len, plane, padded; /* padded: one image's padded copy, with a tail */
} geom;

static geom geometry(const wg_node *nd)
{
    const wg_tensor *x = nd->in[0], *w = nd->in[1], *y = nd->out;
    geom g = { .n = (int)x->shape.dim[0], .c = (int)x->shape.dim[1],
               .h = (int)x->shape.dim[2], .w = (int)x->shape.dim[3],
               .o = (int)w->shape.dim[0], .kh = (int)w->shape.dim[2],
               .kw = (int)w->shape.dim[3], .oh = (int)y->shape.dim[2],
               .ow = (int)y->shape.dim[3], .sh = (int)nd->hp[HP_SH],
               .sw = (int)nd->hp[HP_SW], .pt = (int)nd->hp[HP_PT], .pl = (int)nd->hp[HP_PL] };
    g.wide = g.sh == 1 && g.sw == 1;
    g.hp = g.oh + g.kh - 1;
    g.wp = g.ow + g.kw - 1;
    g.rs = g.wide ? g.wp : g.ow;
    g.len = (int64_t)g.oh * g.rs;
    g.plane = (int64_t)g.hp * g.wp;
    /* the last row of col reads KW - 1 past the last plane, and the direct
     * kernels' last vector up to WG_DIRECT_SLACK further */
    g.padded = g.wide ? g.c * g.plane + g.kw - 1 + WG_DIRECT_SLACK : 0;
    return g;
}

/* ---- the general layout (any stride) ------------------------------------- */

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

/* col[(c, i, j)][(p, q)] = x[c][p*sh - pt + i][q*sw - pl + j], 0 outside;
 * consecutive rows of col are ld apart (an image's columns within a chunk) */
static void im2col(const geom *g, const wg_real *x, wg_real *col, int64_t ld)
{
    for (int c = 0; c < g->c; c++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++) {
                wg_real *row = col + ((int64_t)(c * g->kh + i) * g->kw + j) * ld;
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
                    for (int q = lo; q < hi; q++)
                        dst[q] = src[q * g->sw + off];
                    for (int q = hi; q < g->ow; q++)
                        dst[q] = 0;
                }
            }
}

/* the adjoint of im2col: dx[c][r][s] += every col entry that copied it */
static void col2im(const geom *g, const wg_real *col, int64_t ld, wg_real *dx)
{
    for (int c = 0; c < g->c; c++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++) {
                const wg_real *row = col + ((int64_t)(c * g->kh + i) * g->kw + j) * ld;
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

/* ---- the wide layout (stride 1) --------------------------------------------- */

/* Rows of a plane are short (28 or 10 floats in LeNet): a loop the
 * compiler vectorises in place costs less than a call to memcpy. */
static inline void copy_run(wg_real *restrict dst, const wg_real *restrict src, int n)
{
    for (int i = 0; i < n; i++)
        dst[i] = src[i];
}

/* xp = x with its padding, as HP x WP planes, and zeros after */
static void pad_image(const geom *g, const wg_real *x, wg_real *xp)
{
    memset(xp, 0, (size_t)g->padded * sizeof *xp);
    for (int c = 0; c < g->c; c++)
        for (int r = 0; r < g->h; r++)
            copy_run(xp + c * g->plane + (int64_t)(r + g->pt) * g->wp + g->pl,
                     x + ((int64_t)c * g->h + r) * g->w, g->w);
}

/* col[(c, i, j)][t] = xp[c][i][j + t] for t < OH*WP: one run per row */
static void im2col_wide(const geom *g, const wg_real *xp, wg_real *col, int64_t ld)
{
    int64_t row = 0;
    for (int c = 0; c < g->c; c++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++, row++)
                memcpy(col + row * ld, xp + c * g->plane + (int64_t)i * g->wp + j,
                       (size_t)g->len * sizeof *col);
}

static void add_run(wg_real *restrict dst, const wg_real *restrict src, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] += src[i];
}

/* the adjoint of im2col_wide into a zeroed padded image dxp, then its
 * inside added to dx */
static void col2im_wide(const geom *g, const wg_real *col, int64_t ld, wg_real *dxp, wg_real *dx)
{
    memset(dxp, 0, (size_t)g->padded * sizeof *dxp);
    int64_t row = 0;
    for (int c = 0; c < g->c; c++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++, row++)
                add_run(dxp + c * g->plane + (int64_t)i * g->wp + j, col + row * ld, g->len);
    for (int c = 0; c < g->c; c++)
        for (int r = 0; r < g->h; r++)
            add_run(dx + ((int64_t)c * g->h + r) * g->w,
                    dxp + c * g->plane + (int64_t)(r + g->pt) * g->wp + g->pl, g->w);
}

/* col of a chunk: its images' columns side by side, ld = m * len */
static void chunk_col(const geom *g, const wg_real *x, int n0, int m, wg_real *pad, wg_real *col)
{
    const int64_t xs = (int64_t)g->c * g->h * g->w, ld = m * g->len;
    for (int k = 0; k < m; k++) {
        const wg_real *xk = x + (n0 + k) * xs;
        if (g->wide) {
            pad_image(g, xk, pad);
            im2col_wide(g, pad, col + k * g->len, ld);
        } else {
            im2col(g, xk, col + k * g->len, ld);
        }
    }
}

/* ---- chunks --------------------------------------------------------------- */

/* Images per chunk: enough columns for one GEMM to run near BLAS's speed,
 * but at least 4 chunks per batch when the batch allows, so two threads
 * share the work evenly. Fixed by the shape alone: the GEMMs' shapes, and
 * so the bits, do not depend on the thread count. */
#define WG_CONV_COLS 1024
static int chunk_images(const geom *g)
{
    int k = (int)((WG_CONV_COLS + g->len - 1) / g->len);
    int most = (g->n + 3) / 4;
    if (k > most)
        k = most;
    return k < 1 ? 1 : k;
}

/* The images [n0, n0 + m) of one chunk. */
typedef struct {
    int n0, m;
} chunk;

static chunk chunk_at(const geom *g, int size, int ch)
{
    int n0 = ch * size;
    return (chunk){ n0, g->n - n0 < size ? g->n - n0 : size };
}

/* db[o] += the sum of dy over images and positions: each image's plane in
 * eight float lanes (vectorisable, a fixed order), the planes in double */
static void bias_grad(const geom *g, const wg_real *dy, wg_real *db)
{
    const int ohw = g->oh * g->ow;
    for (int o = 0; o < g->o; o++) {
        double s = 0;
        for (int n = 0; n < g->n; n++) {
            const wg_real *d = dy + ((int64_t)n * g->o + o) * ohw;
            wg_real lane[8] = { 0 };
            int k = 0;
            for (; k + 8 <= ohw; k += 8)
                for (int l = 0; l < 8; l++)
                    lane[l] += d[k + l];
            for (; k < ohw; k++)
                lane[k & 7] += d[k];
            for (int l = 0; l < 8; l++)
                s += lane[l];
        }
        db[o] += (wg_real)s;
    }
}

/* ---- the backward by the direct kernels (stride 1) -------------------------- */

/* dy of one image in the wide layout behind a margin of (KH-1)*WP + KW-1
 * zeros, zeros after: [O][dplane] */
static int64_t dy_margin(const geom *g)
{
    return (int64_t)(g->kh - 1) * g->wp + g->kw - 1;
}

static int64_t dy_plane(const geom *g)
{
    return dy_margin(g) + g->plane + WG_DIRECT_SLACK;
}

static void dy_wide(const geom *g, const wg_real *dyn, wg_real *dyb)
{
    const int64_t front = dy_margin(g), dplane = dy_plane(g);
    const int ohw = g->oh * g->ow;
    memset(dyb, 0, (size_t)(g->o * dplane) * sizeof *dyb);
    for (int o = 0; o < g->o; o++)
        for (int p = 0; p < g->oh; p++)
            copy_run(dyb + o * dplane + front + (int64_t)p * g->wp, dyn + o * ohw + p * g->ow,
                     g->ow);
}

/* The input gradient of one image: dy correlated with the kernel walked
 * backwards,
 *     dx_padded[c][s] = sum over (o, i, j) of W[o][c][i][j] dy_wide[o][s - i*WP - j],
 * then the inside of the padded planes added to dx. */
static void direct_input_grad(const geom *g, const wg_real *dyb, const wg_real *wt2, int lanes,
                              wg_real *dxw, wg_real *dxn)
{
    const int64_t ld = (g->plane + lanes - 1) / lanes * lanes;
    wg_conv_direct(dyb + dy_margin(g), dy_plane(g), -g->wp, -1, g->o, g->kh, g->kw, g->c, wt2,
                   NULL, g->plane, dxw, ld);
    for (int c = 0; c < g->c; c++)
        for (int r = 0; r < g->h; r++)
            add_run(dxn + ((int64_t)c * g->h + r) * g->w,
                    dxw + c * ld + (int64_t)(r + g->pt) * g->wp + g->pl, g->w);
}

/* Both gradients by the direct kernels, chunk by chunk: each image's dy
 * behind its margin serves both, its padded copy the weight gradient,
 * which sums the chunk's images lane by lane (wg_conv_direct_wgrad) into
 * the chunk's own buffer; the buffers are added in chunk order. */
static wg_status direct_backward(wg_tape *t, const geom *g, const wg_tensor *x,
                                 const wg_tensor *w, const wg_real *dy, wg_real *dx, wg_real *dw,
                                 int lanes)
{
    static const char *op = "conv2d";
    const int ohw = g->oh * g->ow, ckk = g->c * g->kh * g->kw;
    const int64_t xs = (int64_t)g->c * g->h * g->w, ys = (int64_t)g->o * ohw;
    const int64_t wsize = (int64_t)g->o * ckk, dplane = dy_plane(g);
    const int64_t dxw_ld = (g->plane + lanes - 1) / lanes * lanes;
    const int size = chunk_images(g), chunks = (g->n + size - 1) / size;
    int threads = wg_threads_for((int64_t)g->n * g->o * g->len * ckk);
    if (threads > chunks)
        threads = chunks;
    /* per thread: a chunk's dy and padded images and the pointers to them,
     * an image's padded dx */
    wg_real *dyb = wg_tape_alloc(t, op, (size_t)(threads * size * g->o * dplane) * sizeof(wg_real));
    wg_real *pads = dw ? wg_tape_alloc(t, op, (size_t)(threads * size * g->padded) *
                                                  sizeof(wg_real))
                       : NULL;
    const wg_real **ptrs = dw ? wg_tape_alloc(t, op, (size_t)threads * 2 * size * sizeof *ptrs)
                              : NULL;
    int64_t *off = dw ? wg_tape_alloc(t, op, (size_t)ckk * sizeof *off) : NULL;
    wg_real *dwc = dw ? wg_tape_alloc(t, op, (size_t)(chunks * wsize) * sizeof(wg_real)) : NULL;
    wg_real *dxw = dx ? wg_tape_alloc(t, op, (size_t)(threads * g->c * dxw_ld) * sizeof(wg_real))
                      : NULL;
    wg_real *wt2 = dx ? wg_tape_alloc(t, op, (size_t)wsize * sizeof(wg_real)) : NULL;
    if (t->status != WG_OK)
        return t->status;
    if (dw) /* where each tap (c, i, j) starts in a padded image */
        for (int c = 0, k = 0; c < g->c; c++)
            for (int i = 0; i < g->kh; i++)
                for (int j = 0; j < g->kw; j++, k++)
                    off[k] = c * g->plane + (int64_t)i * g->wp + j;
    if (dx) /* the weights as [(o, i, j)][c] */
        for (int o = 0; o < g->o; o++)
            for (int c = 0; c < g->c; c++)
                for (int k = 0; k < g->kh * g->kw; k++)
                    wt2[((int64_t)o * g->kh * g->kw + k) * g->c + c] =
                        w->data[((int64_t)o * g->c + c) * g->kh * g->kw + k];

#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (threads > 1)
    for (int ch = 0; ch < chunks; ch++) {
        const chunk c = chunk_at(g, size, ch);
        const int id = THREAD_ID;
        wg_real *db = dyb + (int64_t)id * size * g->o * dplane;
        for (int k = 0; k < c.m; k++)
            dy_wide(g, dy + (c.n0 + k) * ys, db + k * g->o * dplane);
        if (dw) {
            const wg_real **xp = ptrs + (int64_t)id * 2 * size, **dp = xp + size;
            for (int k = 0; k < c.m; k++) {
                wg_real *pk = pads + ((int64_t)id * size + k) * g->padded;
                pad_image(g, x->data + (c.n0 + k) * xs, pk);
                xp[k] = pk;
                dp[k] = db + k * g->o * dplane + dy_margin(g);
            }
            wg_conv_direct_wgrad(xp, dp, c.m, dplane, g->o, off, ckk, g->len, dwc + ch * wsize);
        }
        if (dx)
            for (int k = 0; k < c.m; k++)
                direct_input_grad(g, db + k * g->o * dplane, wt2, lanes,
                                  dxw + (int64_t)id * g->c * dxw_ld, dx + (c.n0 + k) * xs);
    }
    if (dw)
        for (int ch = 0; ch < chunks; ch++)
            for (int64_t k = 0; k < wsize; k++)
                dw[k] += dwc[ch * wsize + k];
    return WG_OK;
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
    if (db)
        bias_grad(&g, dy, db);
    if (!dx && !dw)
        return WG_OK;
    const int lanes = g.wide ? wg_conv_direct_lanes() : 0;
    if (lanes)
        return direct_backward(t, &g, nd->in[0], w, dy, dx, dw, lanes);

    const int ohw = g.oh * g.ow, ckk = g.c * g.kh * g.kw;
    const int64_t xs = (int64_t)g.c * g.h * g.w, ys = (int64_t)g.o * ohw;
    const int64_t wsize = (int64_t)g.o * ckk;
    const int size = chunk_images(&g), chunks = (g.n + size - 1) / size;
    const int64_t span = size * g.len; /* a full chunk's columns */
    int threads = wg_threads_for((int64_t)g.n * g.o * g.len * ckk);
    if (threads > chunks)
        threads = chunks;
    /* per thread: dy of a chunk as [O x columns], its col, Wᵀ dy, a padded image */
    wg_real *cols = dw ? wg_tape_alloc(t, "conv2d", (size_t)threads * ckk * span * sizeof(wg_real))
                       : NULL;
    wg_real *dyt = wg_tape_alloc(t, "conv2d", (size_t)threads * g.o * span * sizeof(wg_real));
    wg_real *dcols = dx ? wg_tape_alloc(t, "conv2d", (size_t)threads * ckk * span * sizeof(wg_real))
                        : NULL;
    wg_real *dpad = g.wide
                        ? wg_tape_alloc(t, "conv2d", (size_t)threads * g.padded * sizeof(wg_real))
                        : NULL;
    wg_real *dwc = dw ? wg_tape_alloc(t, "conv2d", (size_t)chunks * wsize * sizeof(wg_real))
                      : NULL;
    if (t->status != WG_OK)
        return t->status;

#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (threads > 1)
    for (int ch = 0; ch < chunks; ch++) {
        const chunk c = chunk_at(&g, size, ch);
        const int64_t ld = c.m * g.len;
        wg_real *d = dyt + (int64_t)THREAD_ID * g.o * span;
        /* dy into the column layout; the wide layout's extra columns get 0 */
        for (int o = 0; o < g.o; o++)
            for (int k = 0; k < c.m; k++)
                for (int p = 0; p < g.oh; p++) {
                    wg_real *dst = d + o * ld + k * g.len + p * g.rs;
                    const wg_real *src = dy + (c.n0 + k) * ys + (int64_t)o * ohw + p * g.ow;
                    copy_run(dst, src, g.ow);
                    for (int q = g.ow; q < g.rs; q++)
                        dst[q] = 0;
                }
        if (dw) { /* dW_chunk [O x CKK] = dy_chunk [O x columns] col_chunkᵀ */
            wg_real *col = cols + THREAD_ID * ckk * span;
            chunk_col(&g, nd->in[0]->data, c.n0, c.m, g.wide ? dpad + THREAD_ID * g.padded : NULL,
                      col);
            wg_gemm(false, true, g.o, ckk, (int)ld, 1, d, (int)ld, col, (int)ld, 0,
                    dwc + ch * wsize, ckk);
        }
        if (dx) { /* dcol [CKK x columns] = Wᵀ dy_chunk, then back onto each image */
            wg_real *dcol = dcols + (int64_t)THREAD_ID * ckk * span;
            wg_gemm(true, false, ckk, (int)ld, g.o, 1, w->data, ckk, d, (int)ld, 0, dcol, (int)ld);
            for (int k = 0; k < c.m; k++)
                if (g.wide)
                    col2im_wide(&g, dcol + k * g.len, ld, dpad + THREAD_ID * g.padded,
                                dx + (c.n0 + k) * xs);
                else
                    col2im(&g, dcol + k * g.len, ld, dx + (c.n0 + k) * xs);
        }
    }
    if (dw)
        for (int ch = 0; ch < chunks; ch++)
            for (int64_t k = 0; k < wsize; k++)
                dw[k] += dwc[ch * wsize + k];
    return WG_OK;
}

/* The forward through im2col and one GEMM per chunk of images. */
static void gemm_forward(wg_tape *t, const geom *gp, const wg_tensor *x, const wg_tensor *w,
                         const wg_tensor *b, wg_tensor *y)
{
    static const char *op = "conv2d";
    const geom g = *gp;
    const int ohw = g.oh * g.ow, ckk = g.c * g.kh * g.kw;
    const int64_t ys = (int64_t)g.o * ohw;
    const int size = chunk_images(&g), chunks = (g.n + size - 1) / size;
    const int64_t span = size * g.len;
    int threads = wg_threads_for((int64_t)g.n * g.o * g.len * ckk);
    if (threads > chunks)
        threads = chunks;
    /* per thread: a chunk's col, its product, a padded image. The col is
     * made again by the backward rather than kept: 11 MB of tape for
     * LeNet-5 would leave the caches, this stays in them */
    wg_real *cols = wg_tape_alloc(t, op, (size_t)threads * span * ckk * sizeof(wg_real));
    wg_real *prod = wg_tape_alloc(t, op, (size_t)threads * g.o * span * sizeof(wg_real));
    wg_real *pad = g.wide ? wg_tape_alloc(t, op, (size_t)threads * g.padded * sizeof(wg_real))
                          : NULL;
    if (!cols || !prod || (g.wide && !pad))
        return;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int ch = 0; ch < chunks; ch++) {
        const chunk c = chunk_at(&g, size, ch);
        const int64_t ld = c.m * g.len;
        wg_real *col = cols + THREAD_ID * span * ckk;
        wg_real *p = prod + (int64_t)THREAD_ID * g.o * span;
        chunk_col(&g, x->data, c.n0, c.m, g.wide ? pad + THREAD_ID * g.padded : NULL, col);
        /* [O x columns] = W [O x CKK] col [CKK x columns], then each
         * image's planes out of it with the bias added */
        wg_gemm(false, false, g.o, (int)ld, (int)ckk, 1, w->data, (int)ckk, col, (int)ld, 0, p,
                (int)ld);
        for (int k = 0; k < c.m; k++)
            for (int oc = 0; oc < g.o; oc++) {
                const wg_real bias = b ? b->data[oc] : 0;
                for (int r = 0; r < g.oh; r++) {
                    const wg_real *src = p + oc * ld + k * g.len + r * g.rs;
                    wg_real *dst = y->data + (c.n0 + k) * ys + (int64_t)oc * ohw + r * g.ow;
                    if (b)
                        for (int q = 0; q < g.ow; q++)
                            dst[q] = src[q] + bias;
                    else
                        memcpy(dst, src, (size_t)g.ow * sizeof *dst);
                }
            }
    }
}

/* The forward by the direct kernels (conv2d_direct.c), image by image:
 * each image's padded copy, its output in the wide layout, then the
 * output's planes out of it (the kernels have added the bias). */
static void direct_forward(wg_tape *t, const geom *g, const wg_tensor *x, const wg_tensor *w,
                           const wg_tensor *b, wg_tensor *y, int lanes)
{
    static const char *op = "conv2d";
    const int ckk = g->c * g->kh * g->kw, ohw = g->oh * g->ow;
    const int64_t xs = (int64_t)g->c * g->h * g->w, ys = (int64_t)g->o * ohw;
    const int64_t ld = (g->len + lanes - 1) / lanes * lanes;
    int threads = wg_threads_for((int64_t)g->n * g->o * g->len * ckk);
    /* the weights as [C*KH*KW][O]: a tap's O weights side by side */
    wg_real *wt = wg_tape_alloc(t, op, (size_t)ckk * g->o * sizeof(wg_real));
    wg_real *pad = wg_tape_alloc(t, op, (size_t)threads * g->padded * sizeof(wg_real));
    wg_real *out = wg_tape_alloc(t, op, (size_t)threads * g->o * ld * sizeof(wg_real));
    if (!wt || !pad || !out)
        return;
    for (int o = 0; o < g->o; o++)
        for (int k = 0; k < ckk; k++)
            wt[(int64_t)k * g->o + o] = w->data[(int64_t)o * ckk + k];
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int n = 0; n < g->n; n++) {
        wg_real *xp = pad + THREAD_ID * g->padded, *yw = out + THREAD_ID * g->o * ld;
        pad_image(g, x->data + n * xs, xp);
        wg_conv_direct(xp, g->plane, g->wp, 1, g->c, g->kh, g->kw, g->o, wt, b ? b->data : NULL,
                       g->len, yw, ld);
        for (int o = 0; o < g->o; o++)
            for (int r = 0; r < g->oh; r++)
                copy_run(y->data + n * ys + (int64_t)o * ohw + r * g->ow,
                         yw + o * ld + (int64_t)r * g->wp, g->ow);
    }
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
    /* pw >= ow: room for the wide layout's columns, twice for a chunk */
    if (!WG_FITS_INT(2 * oh * pw) || !WG_FITS_INT(ckk) || !WG_FITS_INT(ckk * oh * pw))
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
    const int lanes = g.wide ? wg_conv_direct_lanes() : 0;
    if (lanes)
        direct_forward(t, &g, x, w, b, y, lanes);
    else
        gemm_forward(t, &g, x, w, b, y);
    if (t->status != WG_OK)
        return wg_poison(t);
    if (wg_op_recording(t, in, n_in)) {
        wg_node *nd = wg_op_record(t, &wg_op_conv2d, y, in, n_in);
        if (!nd)
            return wg_poison(t);
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
