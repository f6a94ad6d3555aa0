/* Stride-1 convolutions computed directly, without im2col and GEMM, where
 * the CPU has AVX2 + FMA or AVX-512 (wg_cpu_level): the forward; the input
 * gradient (a correlation of dy with the flipped kernel: the forward's
 * loops walking the planes backwards); the weight gradient (a block of
 * channels x taps of accumulators over the positions of a chunk of images).
 *
 * For LeNet's layers the GEMM path is a poor fit: im2col copies every
 * input value KH*KW times and the products are thin (6 or 16 output
 * channels). Here a block of output channels keeps one vector of
 * accumulators each, over one vector of consecutive output positions, and
 * every input vector loaded is used by the whole block: for each (c, i, j)
 * one load and a multiply-add per channel. Positions are those of the
 * "wide" layout (conv2d.c): output row p, column q is position p*WP + q of
 * the padded image, so that the input of a kernel tap is the same run of
 * the padded image shifted by i*WP + j.
 *
 * Each output is bias + the taps in (c, i, j) order: a fixed order, so the
 * same bits at any thread count (not the same as the GEMM path's). */
#include "conv2d.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define WG_DIRECT 1

typedef struct {
    const wg_real *xp;   /* input planes, readable wherever a tap reaches */
    const wg_real *wt;   /* weights as [C*KH*KW][O] */
    const wg_real *bias; /* [O] or NULL */
    wg_real *y;          /* [O][ld], ld a multiple of the widest vector */
    int64_t ld, plane, istep, jstep;
    int o, c, kh, kw;
} direct_args;

/* One kernel per instruction set and block of OB channels: OB accumulators
 * stay in registers only when OB is a constant and the loops over the
 * block are unrolled. */
#define DIRECT_KERNEL(ISA, TARGET, BYTES, OB)                                                  \
    __attribute__((target(TARGET))) static void fwd_##ISA##_##OB(const direct_args *a, int o0, \
                                                                  int64_t t0)                  \
    {                                                                                          \
        typedef wg_real vec __attribute__((vector_size(BYTES)));                               \
        typedef wg_real uvec __attribute__((vector_size(BYTES), aligned(sizeof(wg_real))));    \
        vec acc[OB];                                                                           \
        _Pragma("GCC unroll 16") for (int b = 0; b < OB; b++)                                  \
            acc[b] = (vec){ 0 } + (a->bias ? a->bias[o0 + b] : 0);                             \
        const wg_real *wr = a->wt + o0;                                                        \
        for (int c = 0; c < a->c; c++)                                                         \
            for (int i = 0; i < a->kh; i++) {                                                  \
                const wg_real *x = a->xp + c * a->plane + i * a->istep + t0;                   \
                for (int j = 0; j < a->kw; j++, wr += a->o) {                                  \
                    const vec xv = *(const uvec *)(x + j * a->jstep);                          \
                    _Pragma("GCC unroll 16") for (int b = 0; b < OB; b++)                      \
                        acc[b] += wr[b] * xv;                                                  \
                }                                                                              \
            }                                                                                  \
        _Pragma("GCC unroll 16") for (int b = 0; b < OB; b++)                                  \
            *(uvec *)(a->y + (o0 + b) * a->ld + t0) = acc[b];                                  \
    }

DIRECT_KERNEL(avx2, "avx2,fma", 32, 1)
DIRECT_KERNEL(avx2, "avx2,fma", 32, 2)
DIRECT_KERNEL(avx2, "avx2,fma", 32, 3)
DIRECT_KERNEL(avx2, "avx2,fma", 32, 4)
DIRECT_KERNEL(avx2, "avx2,fma", 32, 5)
DIRECT_KERNEL(avx2, "avx2,fma", 32, 6)
DIRECT_KERNEL(avx2, "avx2,fma", 32, 7)
DIRECT_KERNEL(avx2, "avx2,fma", 32, 8)
DIRECT_KERNEL(avx2, "avx2,fma", 32, 9)
DIRECT_KERNEL(avx2, "avx2,fma", 32, 10)
DIRECT_KERNEL(avx2, "avx2,fma", 32, 11)
DIRECT_KERNEL(avx2, "avx2,fma", 32, 12)
DIRECT_KERNEL(avx512, "avx512f,avx2,fma", 64, 1)
DIRECT_KERNEL(avx512, "avx512f,avx2,fma", 64, 2)
DIRECT_KERNEL(avx512, "avx512f,avx2,fma", 64, 3)
DIRECT_KERNEL(avx512, "avx512f,avx2,fma", 64, 4)
DIRECT_KERNEL(avx512, "avx512f,avx2,fma", 64, 5)
DIRECT_KERNEL(avx512, "avx512f,avx2,fma", 64, 6)
DIRECT_KERNEL(avx512, "avx512f,avx2,fma", 64, 7)
DIRECT_KERNEL(avx512, "avx512f,avx2,fma", 64, 8)
DIRECT_KERNEL(avx512, "avx512f,avx2,fma", 64, 9)
DIRECT_KERNEL(avx512, "avx512f,avx2,fma", 64, 10)
DIRECT_KERNEL(avx512, "avx512f,avx2,fma", 64, 11)
DIRECT_KERNEL(avx512, "avx512f,avx2,fma", 64, 12)
DIRECT_KERNEL(avx512, "avx512f,avx2,fma", 64, 13)
DIRECT_KERNEL(avx512, "avx512f,avx2,fma", 64, 14)
DIRECT_KERNEL(avx512, "avx512f,avx2,fma", 64, 15)
DIRECT_KERNEL(avx512, "avx512f,avx2,fma", 64, 16)

typedef void (*kernel_fn)(const direct_args *, int, int64_t);

/* by block size: AVX2 has 16 vector registers, so up to 12 accumulators;
 * AVX-512 has 32, up to 16 */
#define AVX2_BLOCK 12
#define AVX512_BLOCK 16
static const kernel_fn avx2_kernels[AVX2_BLOCK + 1] = {
    NULL, fwd_avx2_1, fwd_avx2_2, fwd_avx2_3, fwd_avx2_4, fwd_avx2_5, fwd_avx2_6,
    fwd_avx2_7, fwd_avx2_8, fwd_avx2_9, fwd_avx2_10, fwd_avx2_11, fwd_avx2_12,
};
static const kernel_fn avx512_kernels[AVX512_BLOCK + 1] = {
    NULL, fwd_avx512_1, fwd_avx512_2, fwd_avx512_3, fwd_avx512_4, fwd_avx512_5,
    fwd_avx512_6, fwd_avx512_7, fwd_avx512_8, fwd_avx512_9, fwd_avx512_10, fwd_avx512_11,
    fwd_avx512_12, fwd_avx512_13, fwd_avx512_14, fwd_avx512_15, fwd_avx512_16,
};

/* The weight gradient: OB output channels times TB taps of accumulators,
 * each lane summing its own positions over the chunk's images, then the
 * lanes added in order. Per vector of positions: OB + TB loads and OB * TB
 * multiply-adds. */
#define WGRAD_KERNEL(ISA, TARGET, BYTES, OB, TB)                                               \
    __attribute__((target(TARGET))) static void wgrad_##ISA##_##OB##x##TB(                    \
        const wg_real *const *x, const wg_real *const *dy, int m, int64_t dld, const int *orow, \
        const int64_t *off, int64_t len, wg_real *out)                                         \
    {                                                                                          \
        typedef wg_real vec __attribute__((vector_size(BYTES)));                               \
        typedef wg_real uvec __attribute__((vector_size(BYTES), aligned(sizeof(wg_real))));    \
        enum { L = BYTES / sizeof(wg_real) };                                                  \
        vec acc[OB][TB];                                                                       \
        _Pragma("GCC unroll 16") for (int b = 0; b < OB; b++)                                  \
            _Pragma("GCC unroll 16") for (int k = 0; k < TB; k++) acc[b][k] = (vec){ 0 };     \
        for (int n = 0; n < m; n++) {                                                          \
            const wg_real *xn = x[n], *dn = dy[n];                                             \
            for (int64_t t = 0; t < len; t += L) {                                             \
                vec d[OB];                                                                     \
                _Pragma("GCC unroll 16") for (int b = 0; b < OB; b++)                          \
                    d[b] = *(const uvec *)(dn + orow[b] * dld + t);                            \
                _Pragma("GCC unroll 16") for (int k = 0; k < TB; k++) {                        \
                    const vec xv = *(const uvec *)(xn + off[k] + t);                           \
                    _Pragma("GCC unroll 16") for (int b = 0; b < OB; b++)                      \
                        acc[b][k] += d[b] * xv;                                                \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
        for (int b = 0; b < OB; b++)                                                           \
            for (int k = 0; k < TB; k++) {                                                     \
                wg_real s = 0;                                                                 \
                for (int l = 0; l < L; l++)                                                    \
                    s += acc[b][k][l];                                                         \
                out[b * TB + k] = s;                                                           \
            }                                                                                  \
    }

/* AVX2: 9 accumulators and 3 + 1 operands in its 16 registers; AVX-512:
 * 16 or 18 accumulators in its 32, in two shapes (channels x taps) so that
 * 6 channels (LeNet's conv1) fit one block */
WGRAD_KERNEL(avx2, "avx2,fma", 32, 3, 3)
WGRAD_KERNEL(avx512, "avx512f,avx2,fma", 64, 4, 4)
WGRAD_KERNEL(avx512, "avx512f,avx2,fma", 64, 6, 3)

typedef void (*wgrad_fn)(const wg_real *const *, const wg_real *const *, int, int64_t,
                         const int *, const int64_t *, int64_t, wg_real *);
typedef struct {
    wgrad_fn fn;
    int ob, tb;
} wgrad_kernel;
#define WGRAD_ENTRY(ISA, OB, TB) { wgrad_##ISA##_##OB##x##TB, OB, TB }

/* multiply-adds with the blocks rounded up: the cheaper shape wins */
static int64_t wgrad_cost(const wgrad_kernel *k, int o, int taps)
{
    return (int64_t)((o + k->ob - 1) / k->ob * k->ob) * ((taps + k->tb - 1) / k->tb * k->tb);
}
#endif

int wg_conv_direct_lanes(void)
{
#ifdef WG_DIRECT
    switch (wg_cpu_level()) {
    case WG_CPU_AVX512: return 64 / (int)sizeof(wg_real);
    case WG_CPU_AVX2: return 32 / (int)sizeof(wg_real);
    }
#endif
    return 0;
}

/* y[o][t] = bias[o] + the sum over (c, i, j) of
 *     wt[(c, i, j)][o] * xp[c*plane + i*istep + j*jstep + t]
 * for t < len rounded up to the lanes, in that order; xp readable wherever
 * that reaches, rows of y ld apart (ld a multiple of the lanes). */
static void direct(const wg_real *xp, int64_t plane, int64_t istep, int64_t jstep, int c, int kh,
                   int kw, int o, const wg_real *wt, const wg_real *bias, int64_t len, wg_real *y,
                   int64_t ld)
{
#ifdef WG_DIRECT
    const direct_args a = { xp, wt, bias, y, ld, plane, istep, jstep, o, c, kh, kw };
    const bool wide = wg_cpu_level() == WG_CPU_AVX512;
    const kernel_fn *kernels = wide ? avx512_kernels : avx2_kernels;
    const int most = wide ? AVX512_BLOCK : AVX2_BLOCK, lanes = wg_conv_direct_lanes();
    /* the channels in as few blocks as the registers allow, of even sizes
     * (6 channels: one block of 6, not 4 + 2, so each input vector loaded
     * serves all of them) */
    const int blocks = (o + most - 1) / most, size = (o + blocks - 1) / blocks;
    for (int64_t t0 = 0; t0 < len; t0 += lanes)
        for (int o0 = 0; o0 < o; o0 += size)
            kernels[o - o0 < size ? o - o0 : size](&a, o0, t0);
#else
    (void)xp, (void)plane, (void)istep, (void)jstep, (void)c, (void)kh, (void)kw, (void)o, (void)wt;
    (void)bias, (void)len, (void)y, (void)ld;
#endif
}

/* dw[o][j] = the sum over images n < m and positions t < len (rounded up to
 * the lanes) of dy[n][o*dld + t] * x[n][off[j] + t], for o < O and j < K:
 * stored, not added. Rows of dy zero past len; x readable that far. */
static void direct_wgrad(const wg_real *const *x, const wg_real *const *dy, int m, int64_t dld,
                         int o, const int64_t *off, int k, int64_t len, wg_real *dw)
{
#ifdef WG_DIRECT
    static const wgrad_kernel avx2 = WGRAD_ENTRY(avx2, 3, 3);
    static const wgrad_kernel avx512[2] = { WGRAD_ENTRY(avx512, 4, 4),
                                            WGRAD_ENTRY(avx512, 6, 3) };
    const wgrad_kernel *kn = &avx2;
    if (wg_cpu_level() == WG_CPU_AVX512)
        kn = wgrad_cost(&avx512[1], o, k) < wgrad_cost(&avx512[0], o, k) ? &avx512[1]
                                                                          : &avx512[0];
    const int ob = kn->ob, tb = kn->tb;
    /* a block past the last channel or tap repeats it; the copy is dropped */
    for (int o0 = 0; o0 < o; o0 += ob) {
        int orow[16];
        for (int b = 0; b < ob; b++)
            orow[b] = o0 + b < o ? o0 + b : o - 1;
        for (int k0 = 0; k0 < k; k0 += tb) {
            int64_t offs[16];
            wg_real out[16 * 16];
            for (int j = 0; j < tb; j++)
                offs[j] = off[k0 + j < k ? k0 + j : k - 1];
            kn->fn(x, dy, m, dld, orow, offs, len, out);
            for (int b = 0; b < ob && o0 + b < o; b++)
                for (int j = 0; j < tb && k0 + j < k; j++)
                    dw[(int64_t)(o0 + b) * k + k0 + j] = out[b * tb + j];
        }
    }
#else
    (void)x, (void)dy, (void)m, (void)dld, (void)o, (void)off, (void)k, (void)len, (void)dw;
#endif
}

/* ---- the forward and backward of a convolution by these kernels ------------ */

/* dy of one image in the wide layout behind a margin of (KH-1)*WP + KW-1
 * zeros, zeros after: [O][dplane] */
static int64_t dy_margin(const conv_geom *g)
{
    return (int64_t)(g->kh - 1) * g->wp + g->kw - 1;
}

static int64_t dy_plane(const conv_geom *g)
{
    return dy_margin(g) + g->plane + WG_DIRECT_SLACK;
}

static void dy_wide(const conv_geom *g, const wg_real *dyn, wg_real *dyb)
{
    const int64_t front = dy_margin(g), dplane = dy_plane(g);
    const int ohw = g->oh * g->ow;
    /* only what the copies leave is zeroed: the margin, the extra columns
     * of each row, the tail */
    for (int o = 0; o < g->o; o++) {
        wg_real *d = dyb + o * dplane;
        zero_run(d, front);
        for (int p = 0; p < g->oh; p++) {
            wg_real *row = d + front + (int64_t)p * g->wp;
            copy_run(row, dyn + o * ohw + p * g->ow, g->ow);
            zero_run(row + g->ow, g->wp - g->ow);
        }
        zero_run(d + front + (int64_t)g->oh * g->wp, dplane - front - (int64_t)g->oh * g->wp);
    }
}

/* The input gradient of one image: dy correlated with the kernel walked
 * backwards,
 *     dx_padded[c][s] = sum over (o, i, j) of W[o][c][i][j] dy_wide[o][s - i*WP - j],
 * then the inside of the padded planes added to dx (copied when dx is fresh). */
static void direct_input_grad(const conv_geom *g, const wg_real *dyb, const wg_real *wt2,
                              int lanes, wg_real *dxw, wg_real *dxn, bool acc)
{
    const int64_t ld = (g->plane + lanes - 1) / lanes * lanes;
    direct(dyb + dy_margin(g), dy_plane(g), -g->wp, -1, g->o, g->kh, g->kw, g->c, wt2,
                   NULL, g->plane, dxw, ld);
    for (int c = 0; c < g->c; c++)
        for (int r = 0; r < g->h; r++)
            (acc ? add_run : copy_run)(dxn + ((int64_t)c * g->h + r) * g->w,
                                       dxw + c * ld + (int64_t)(r + g->pt) * g->wp + g->pl,
                                       g->w);
}

/* Both gradients by the direct kernels, chunk by chunk: each image's dy
 * behind its margin serves both, its padded copy the weight gradient,
 * which sums the chunk's images lane by lane (wg_conv_direct_wgrad) into
 * the chunk's own buffer; the buffers are added in chunk order. */
wg_status wg_conv_direct_backward(wg_tape *t, const conv_geom *g, const wg_tensor *x,
                                  const wg_tensor *w, const wg_real *dy, wg_real *dx,
                                  bool dx_acc, wg_real *dw, int lanes)
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
    wg_real *dyb = wg_tape_alloc(t, op, (size_t)threads * size * g->o * dplane * sizeof(wg_real));
    wg_real *pads = dw ? wg_tape_alloc(t, op, (size_t)threads * size * g->padded *
                                                  sizeof(wg_real))
                       : NULL;
    const wg_real **ptrs = dw ? wg_tape_alloc(t, op, (size_t)threads * 2 * size * sizeof *ptrs)
                              : NULL;
    int64_t *off = dw ? wg_tape_alloc(t, op, (size_t)ckk * sizeof *off) : NULL;
    wg_real *dwc = dw ? wg_tape_alloc(t, op, (size_t)chunks * wsize * sizeof(wg_real)) : NULL;
    wg_real *dxw = dx ? wg_tape_alloc(t, op, (size_t)threads * g->c * dxw_ld * sizeof(wg_real))
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
            direct_wgrad(xp, dp, c.m, dplane, g->o, off, ckk, g->len, dwc + ch * wsize);
        }
        if (dx)
            for (int k = 0; k < c.m; k++)
                direct_input_grad(g, db + k * g->o * dplane, wt2, lanes,
                                  dxw + (int64_t)id * g->c * dxw_ld, dx + (c.n0 + k) * xs,
                                  dx_acc);
    }
    if (dw)
        add_chunk_sums(dw, dwc, chunks, wsize);
    return WG_OK;
}

/* The forward by the direct kernels, image by image:
 * each image's padded copy, its output in the wide layout, then the
 * output's planes out of it (the kernels have added the bias). */
void wg_conv_direct_forward(wg_tape *t, const conv_geom *g, const wg_tensor *x, const wg_tensor *w,
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
        direct(xp, g->plane, g->wp, 1, g->c, g->kh, g->kw, g->o, wt, b ? b->data : NULL,
                       g->len, yw, ld);
        for (int o = 0; o < g->o; o++)
            for (int r = 0; r < g->oh; r++)
                copy_run(y->data + n * ys + (int64_t)o * ohw + r * g->ow,
                         yw + o * ld + (int64_t)r * g->wp, g->ow);
    }
}
