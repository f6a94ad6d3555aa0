/* conv2d through im2col and GEMM, for any stride and any CPU (conv2d.c
 * chooses). The batch runs in chunks of images (chunk_images): forward,
 * per chunk, col = im2col of its images side by side [C*KH*KW x columns],
 * one GEMM W col, then each image's planes out of the product with the
 * bias added. One GEMM per chunk rather than per image because LeNet's
 * products are small (16 x 150 x 100 per image): BLAS reaches its speed
 * only with a few hundred columns. With stride 1 the columns are wide
 * (conv2d.c): each row of col is one run of the padded image, OH*WP long,
 * so im2col and col2im are long copies and additions instead of runs of
 * OW (10 for LeNet's second layer). */
#include "conv2d.h"

/* The output columns q whose input column q*sw - pl + j lies inside
 * [0, w): q in [lo, hi). Computed once per kernel column, so the copies
 * below need no bounds test per element. */
static void valid_cols(const conv_geom *g, int j, int *lo, int *hi)
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
static void im2col(const conv_geom *g, const wg_real *x, wg_real *col, int64_t ld)
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
static void col2im(const conv_geom *g, const wg_real *col, int64_t ld, wg_real *dx)
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

/* col[(c, i, j)][t] = xp[c][i][j + t] for t < OH*WP: one run per row */
static void im2col_wide(const conv_geom *g, const wg_real *xp, wg_real *col, int64_t ld)
{
    int64_t row = 0;
    for (int c = 0; c < g->c; c++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++, row++)
                memcpy(col + row * ld, xp + c * g->plane + (int64_t)i * g->wp + j,
                       (size_t)g->len * sizeof *col);
}

/* the adjoint of im2col_wide into a zeroed padded image dxp, then its
 * inside added to dx (or copied, when dx is fresh) */
static void col2im_wide(const conv_geom *g, const wg_real *col, int64_t ld, wg_real *dxp,
                        wg_real *dx, bool acc)
{
    memset(dxp, 0, (size_t)g->padded * sizeof *dxp);
    int64_t row = 0;
    for (int c = 0; c < g->c; c++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++, row++)
                add_run(dxp + c * g->plane + (int64_t)i * g->wp + j, col + row * ld, g->len);
    for (int c = 0; c < g->c; c++)
        for (int r = 0; r < g->h; r++)
            (acc ? add_run : copy_run)(dx + ((int64_t)c * g->h + r) * g->w,
                                       dxp + c * g->plane + (int64_t)(r + g->pt) * g->wp + g->pl,
                                       g->w);
}

/* col of a chunk: its images' columns side by side, ld = m * len */
static void chunk_col(const conv_geom *g, const wg_real *x, int n0, int m, wg_real *pad,
                      wg_real *col)
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

/* The forward through im2col and one GEMM per chunk of images. */
void wg_conv_gemm_forward(wg_tape *t, const conv_geom *gp, const wg_tensor *x, const wg_tensor *w,
                          const wg_tensor *b, wg_tensor *y)
{
    static const char *op = "conv2d";
    const conv_geom g = *gp;
    const int ohw = g.oh * g.ow, ckk = g.c * g.kh * g.kw;
    const int64_t ys = (int64_t)g.o * ohw;
    const int size = chunk_images(&g), chunks = (g.n + size - 1) / size;
    const int64_t span = size * g.len;
    int threads = wg_threads_for((int64_t)g.n * g.o * g.len * ckk);
    if (threads > chunks)
        threads = chunks;
    /* per thread: a chunk's col, its product, a padded image */
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

/* Both gradients through GEMMs, chunk by chunk: dy gathered into
 * [O x columns]; dW_chunk = dy colᵀ, one GEMM whose inner dimension runs
 * over every position of every image of the chunk, into the chunk's own
 * buffer (the buffers are added in chunk order); dcol = Wᵀ dy, put back
 * onto each image by col2im. Each chunk's col is made again rather than
 * kept from the forward: for LeNet-5 at batch 64 that would be 11 MB of
 * tape written out of the caches and read back, which measured no faster
 * than the copies it saves. */
wg_status wg_conv_gemm_backward(wg_tape *t, const conv_geom *gp, const wg_tensor *x,
                                const wg_tensor *w, const wg_real *dy, wg_real *dx, bool dx_acc,
                                wg_real *dw)
{
    const conv_geom g = *gp;
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
            chunk_col(&g, x->data, c.n0, c.m, g.wide ? dpad + THREAD_ID * g.padded : NULL,
                      col);
            wg_gemm(false, true, g.o, ckk, (int)ld, 1, d, (int)ld, col, (int)ld, 0,
                    dwc + ch * wsize, ckk);
        }
        if (dx) { /* dcol [CKK x columns] = Wᵀ dy_chunk, then back onto each image */
            wg_real *dcol = dcols + (int64_t)THREAD_ID * ckk * span;
            wg_gemm(true, false, ckk, (int)ld, g.o, 1, w->data, ckk, d, (int)ld, 0, dcol, (int)ld);
            for (int k = 0; k < c.m; k++)
                if (g.wide) {
                    col2im_wide(&g, dcol + k * g.len, ld, dpad + THREAD_ID * g.padded,
                                dx + (c.n0 + k) * xs, dx_acc);
                } else {
                    if (!dx_acc) /* strided windows overlap: the scatter adds */
                        memset(dx + (c.n0 + k) * xs, 0, (size_t)xs * sizeof *dx);
                    col2im(&g, dcol + k * g.len, ld, dx + (c.n0 + k) * xs);
                }
        }
    }
    if (dw)
        add_chunk_sums(dw, dwc, chunks, wsize);
    return WG_OK;
}
