/* What conv2d.c, conv2d_gemm.c and conv2d_direct.c share: the geometry of
 * a convolution, the chunks of images its loops run over, and the padded
 * copy of an image. Internal to ops/. */
#ifndef WG_CONV2D_H
#define WG_CONV2D_H

#include "ops.h"

#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#define THREAD_ID omp_get_thread_num()
#else
#define THREAD_ID 0
#endif

/* the node's hyperparameters */
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
} conv_geom;

/* Rows of a plane are short (28 or 10 floats in LeNet): a loop the
 * compiler vectorises in place costs less than a call to memcpy. */
static inline void copy_run(wg_real *restrict dst, const wg_real *restrict src, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = src[i];
}

static inline void add_run(wg_real *restrict dst, const wg_real *restrict src, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] += src[i];
}

static inline void zero_run(wg_real *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = 0;
}

/* xp = x with its padding, as HP x WP planes, and zeros after. Only the
 * padding is zeroed: the image is copied over the rest. */
static inline void pad_image(const conv_geom *g, const wg_real *x, wg_real *xp)
{
    const int pr = g->wp - g->w - g->pl, below = g->hp - g->h - g->pt;
    for (int c = 0; c < g->c; c++) {
        wg_real *plane = xp + c * g->plane;
        zero_run(plane, (int64_t)g->pt * g->wp);
        for (int r = 0; r < g->h; r++) {
            wg_real *row = plane + (int64_t)(r + g->pt) * g->wp;
            zero_run(row, g->pl);
            copy_run(row + g->pl, x + ((int64_t)c * g->h + r) * g->w, g->w);
            zero_run(row + g->pl + g->w, pr);
        }
        zero_run(plane + (int64_t)(g->pt + g->h) * g->wp, (int64_t)below * g->wp);
    }
    zero_run(xp + g->c * g->plane, g->padded - g->c * g->plane);
}

/* Images per chunk: enough columns for one GEMM to run near BLAS's speed,
 * but at least 4 chunks per batch when the batch allows, so two threads
 * share the work evenly. Fixed by the shape alone: the weight gradient's
 * partial sums, and so the bits, do not depend on the thread count. */
#define WG_CONV_COLS 1024
static inline int chunk_images(const conv_geom *g)
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

static inline chunk chunk_at(const conv_geom *g, int size, int ch)
{
    int n0 = ch * size;
    return (chunk){ n0, g->n - n0 < size ? g->n - n0 : size };
}

/* dw += the chunks' weight-gradient buffers [chunks][wsize], in chunk
 * order: the one place the sum over chunks happens, so its order (and the
 * bits) is the same on both paths and at any thread count */
static inline void add_chunk_sums(wg_real *dw, const wg_real *dwc, int chunks, int64_t wsize)
{
    for (int ch = 0; ch < chunks; ch++)
        for (int64_t k = 0; k < wsize; k++)
            dw[k] += dwc[ch * wsize + k];
}

/* --- im2col + GEMM (conv2d_gemm.c): any stride, any CPU ------------------- */
WG_INTERNAL void wg_conv_gemm_forward(wg_tape *t, const conv_geom *g, const wg_tensor *x,
                                      const wg_tensor *w, const wg_tensor *b, wg_tensor *y);
/* dx and dW (either may be NULL); dx is added to, or set when dx_acc is
 * false (a fresh buffer, wg_in_grad_dst) */
WG_INTERNAL wg_status wg_conv_gemm_backward(wg_tape *t, const conv_geom *g, const wg_tensor *x,
                                            const wg_tensor *w, const wg_real *dy, wg_real *dx,
                                            bool dx_acc, wg_real *dw);

/* --- direct kernels (conv2d_direct.c): stride 1 with AVX2 or AVX-512 ------ */
/* Elements per vector of the direct kernels on this CPU; 0: none. */
WG_INTERNAL int wg_conv_direct_lanes(void);
WG_INTERNAL void wg_conv_direct_forward(wg_tape *t, const conv_geom *g, const wg_tensor *x,
                                        const wg_tensor *w, const wg_tensor *b, wg_tensor *y,
                                        int lanes);
/* as wg_conv_gemm_backward; the bias gradient is conv2d.c's */
WG_INTERNAL wg_status wg_conv_direct_backward(wg_tape *t, const conv_geom *g,
                                              const wg_tensor *x, const wg_tensor *w,
                                              const wg_real *dy, wg_real *dx, bool dx_acc,
                                              wg_real *dw, int lanes);

#endif
