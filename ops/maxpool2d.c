/* 2-D max pooling without padding. The forward keeps, when recording, the
 * position of each window's maximum, so backward is a scatter of dy into
 * those positions. As in PyTorch, the first maximum of a window in
 * row-major order wins a tie, and a NaN wins over any number. */
#include "ops.h"

#include <string.h>

enum { HP_KH, HP_KW, HP_SH, HP_SW };

static wg_status maxpool2d_backward(wg_tape *t, wg_node *nd)
{
    bool acc;
    wg_real *dx = wg_in_grad_dst(t, nd, 0, &acc);
    if (!dx)
        return t->status;
    const int32_t *arg = nd->saved;
    const wg_tensor *x = nd->in[0], *y = nd->out;
    const int64_t planes = x->shape.dim[0] * x->shape.dim[1];
    const int64_t hw = x->shape.dim[2] * x->shape.dim[3], ohw = y->shape.dim[2] * y->shape.dim[3];
    const wg_real *dy = y->grad;
    /* windows overlap when the stride is below the kernel, so a plane is
     * one thread's: its additions then happen in a fixed order. A fresh
     * buffer is zeroed plane by plane, just before the plane's scatter,
     * while it is in cache */
#pragma omp parallel for num_threads(wg_threads_for(planes * ohw)) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        if (!acc)
            memset(dx + p * hw, 0, (size_t)hw * sizeof *dx);
        for (int64_t k = 0; k < ohw; k++)
            dx[p * hw + arg[p * ohw + k]] += dy[p * ohw + k];
    }
    return WG_OK;
}

const wg_op_desc wg_op_maxpool2d = { "maxpool2d", 1, maxpool2d_backward };

/* v replaces the running maximum m: greater, or a NaN over a number */
#define BEATS(v, m) ((v) > (m) || ((v) != (v) && (m) == (m)))

/* One plane, any window. */
static void pool_any(const wg_real *xp, int w, int oh, int ow, int kh, int kw, int sh, int sw,
                     wg_real *yp, int32_t *arg)
{
    for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++) {
            int best = i * sh * w + j * sw;
            wg_real m = xp[best];
            for (int a = 0; a < kh; a++)
                for (int b = 0; b < kw; b++) {
                    int k = (i * sh + a) * w + j * sw + b;
                    if (BEATS(xp[k], m)) {
                        m = xp[k];
                        best = k;
                    }
                }
            yp[i * ow + j] = m;
            if (arg)
                arg[i * ow + j] = best;
        }
}

/* The common 2x2 window with stride 2: the same comparisons in the same
 * order as pool_any, written as selects (the comparisons are
 * unpredictable, so branches would mispredict half the time). */
static inline void pool_2x2_one(const wg_real *r0, const wg_real *r1, int w, int j, int base,
                                wg_real *y, int32_t *arg)
{
    wg_real a = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1];
    wg_real m = a;
    int best = 0;
    bool t = BEATS(b, m);
    m = t ? b : m;
    best = t ? 1 : best;
    t = BEATS(c, m);
    m = t ? c : m;
    best = t ? w : best;
    t = BEATS(d, m);
    m = t ? d : m;
    best = t ? w + 1 : best;
    *y = m;
    if (arg)
        *arg = base + 2 * j + best;
}

#if defined(__SSE2__) && !defined(WG_DOUBLE)
#include <emmintrin.h>
#define POOL_LANES 4
/* Four windows at once with SSE2 (every x86-64 CPU has it): the even and
 * odd columns of the two rows are split apart by shuffles, then each lane
 * runs pool_2x2_one's comparisons, NaN rule included. */
static inline void pool_2x2_four(const wg_real *r0, const wg_real *r1, int w, int j, int base,
                                 wg_real *y, int32_t *arg)
{
    const __m128 r0a = _mm_loadu_ps(r0 + 2 * j), r0b = _mm_loadu_ps(r0 + 2 * j + 4);
    const __m128 r1a = _mm_loadu_ps(r1 + 2 * j), r1b = _mm_loadu_ps(r1 + 2 * j + 4);
    const __m128 v[3] = { _mm_shuffle_ps(r0a, r0b, _MM_SHUFFLE(3, 1, 3, 1)),
                          _mm_shuffle_ps(r1a, r1b, _MM_SHUFFLE(2, 0, 2, 0)),
                          _mm_shuffle_ps(r1a, r1b, _MM_SHUFFLE(3, 1, 3, 1)) };
    const int offset[3] = { 1, w, w + 1 };
    __m128 m = _mm_shuffle_ps(r0a, r0b, _MM_SHUFFLE(2, 0, 2, 0));
    __m128i best = _mm_setzero_si128();
    for (int k = 0; k < 3; k++) {
        /* BEATS(v, m): v > m, or v is a NaN and m is not */
        __m128 t = _mm_or_ps(_mm_cmpgt_ps(v[k], m),
                             _mm_and_ps(_mm_cmpunord_ps(v[k], v[k]), _mm_cmpord_ps(m, m)));
        __m128i ti = _mm_castps_si128(t);
        m = _mm_or_ps(_mm_and_ps(t, v[k]), _mm_andnot_ps(t, m));
        best = _mm_or_si128(_mm_and_si128(ti, _mm_set1_epi32(offset[k])),
                            _mm_andnot_si128(ti, best));
    }
    _mm_storeu_ps(y, m);
    if (arg) {
        const int at = base + 2 * j;
        __m128i pos = _mm_setr_epi32(at, at + 2, at + 4, at + 6);
        _mm_storeu_si128((__m128i *)arg, _mm_add_epi32(pos, best));
    }
}
#else
#define POOL_LANES 1
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(WG_DOUBLE)
#include <immintrin.h>
#define POOL_AVX512 1
/* A row of up to 16 windows at once with AVX-512: masked loads read the
 * row's 2 * ow values without touching what follows, a two-source permute
 * splits even and odd columns, and the comparisons are pool_2x2_one's in
 * mask registers. LeNet-5's rows of 14 and 5 windows each take one pass,
 * where four-lane SSE2 took three (one) passes and a scalar tail. */
__attribute__((target("avx512f"))) static void pool_2x2_row16(const wg_real *r0,
                                                               const wg_real *r1, int w,
                                                               int ow, int base, wg_real *y,
                                                               int32_t *arg)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                           28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const int offset[3] = { 1, w, w + 1 };
    for (int j = 0; j < ow; j += 16) {
        const int n = ow - j < 16 ? ow - j : 16, vals = 2 * n;
        const __mmask16 out = (__mmask16)((1u << n) - 1);
        const __mmask16 lo = (__mmask16)(vals >= 16 ? 0xffffu : (1u << vals) - 1);
        const __mmask16 hi = (__mmask16)(vals > 16 ? (1u << (vals - 16)) - 1 : 0);
        const wg_real *p0 = r0 + 2 * j, *p1 = r1 + 2 * j;
        __m512 a0 = _mm512_maskz_loadu_ps(lo, p0), b0 = _mm512_maskz_loadu_ps(hi, p0 + 16);
        __m512 a1 = _mm512_maskz_loadu_ps(lo, p1), b1 = _mm512_maskz_loadu_ps(hi, p1 + 16);
        const __m512 v[3] = { _mm512_permutex2var_ps(a0, odd, b0),
                              _mm512_permutex2var_ps(a1, even, b1),
                              _mm512_permutex2var_ps(a1, odd, b1) };
        __m512 m = _mm512_permutex2var_ps(a0, even, b0);
        __m512i best = _mm512_setzero_si512();
        for (int k = 0; k < 3; k++) {
            /* BEATS(v, m): v > m, or v is a NaN and m is not */
            __mmask16 t = _mm512_cmp_ps_mask(v[k], m, _CMP_GT_OQ) |
                          (_mm512_cmp_ps_mask(v[k], v[k], _CMP_UNORD_Q) &
                           _mm512_cmp_ps_mask(m, m, _CMP_ORD_Q));
            m = _mm512_mask_blend_ps(t, m, v[k]);
            best = _mm512_mask_blend_epi32(t, best, _mm512_set1_epi32(offset[k]));
        }
        _mm512_mask_storeu_ps(y + j, out, m);
        if (arg) {
            const __m512i pos = _mm512_add_epi32(_mm512_set1_epi32(base + 2 * j),
                                                 _mm512_slli_epi32(_mm512_setr_epi32(
                                                     0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                                     13, 14, 15), 1));
            _mm512_mask_storeu_epi32(arg + j, out, _mm512_add_epi32(pos, best));
        }
    }
}
#endif

/* One plane, 2x2 windows with stride 2. */
static void pool_2x2(const wg_real *xp, int w, int oh, int ow, wg_real *yp, int32_t *arg)
{
#ifdef POOL_AVX512
    if (wg_cpu_level() == WG_CPU_AVX512) {
        for (int i = 0; i < oh; i++)
            pool_2x2_row16(xp + 2 * i * w, xp + (2 * i + 1) * w, w, ow, 2 * i * w, yp + i * ow,
                           arg ? arg + i * ow : NULL);
        return;
    }
#endif
    for (int i = 0; i < oh; i++) {
        const wg_real *r0 = xp + 2 * i * w, *r1 = r0 + w;
        const int base = 2 * i * w;
        wg_real *y = yp + i * ow;
        int32_t *a = arg ? arg + i * ow : NULL;
        int j = 0;
#if POOL_LANES > 1
        for (; j + POOL_LANES <= ow; j += POOL_LANES)
            pool_2x2_four(r0, r1, w, j, base, y + j, a ? a + j : NULL);
#endif
        for (; j < ow; j++)
            pool_2x2_one(r0, r1, w, j, base, y + j, a ? a + j : NULL);
    }
}

wg_tensor *wg_maxpool2d_ex(wg_tape *t, wg_tensor *x, int kh, int kw, int sh, int sw)
{
    static const char *op = "maxpool2d";
    if (!wg_op_begin(t, op, &x, 1))
        return wg_poison(t);
    wg_shape_buf sx;
    if (x->shape.ndim != 4)
        return wg_fail(t, WG_ESHAPE, op, "input %s: expected [N x C x H x W]", wg_shp(x, &sx));
    if (kh < 1 || kw < 1 || sh < 1 || sw < 1)
        return wg_fail(t, WG_EINVAL, op, "kernel %dx%d, stride %dx%d: all must be >= 1", kh, kw,
                       sh, sw);
    const int64_t h = x->shape.dim[2], w = x->shape.dim[3];
    if (kh > h || kw > w)
        return wg_fail(t, WG_ESHAPE, op, "input %s: kernel %dx%d is larger than the input %lldx%lld",
                       wg_shp(x, &sx), kh, kw, (long long)h, (long long)w);
    if (!WG_FITS_INT(h * w))
        return wg_fail(t, WG_ESHAPE, op, "input %s: planes too large", wg_shp(x, &sx));
    const int64_t oh = (h - kh) / sh + 1, ow = (w - kw) / sw + 1;
    wg_tensor *y = wg_op_output(t, op, WG_SHAPE(x->shape.dim[0], x->shape.dim[1], oh, ow));
    if (!y)
        return wg_poison(t);
    const bool rec = wg_op_recording(t, &x, 1);
    int32_t *arg = rec ? wg_tape_alloc(t, op, (size_t)y->numel * sizeof *arg) : NULL;
    if (rec && !arg)
        return wg_poison(t);
    const int64_t planes = x->shape.dim[0] * x->shape.dim[1];
#pragma omp parallel for num_threads(wg_threads_for(planes * oh * ow * kh * kw)) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        const wg_real *xp = x->data + p * h * w;
        wg_real *yp = y->data + p * oh * ow;
        int32_t *ap = arg ? arg + p * oh * ow : NULL;
        if (kh == 2 && kw == 2 && sh == 2 && sw == 2)
            pool_2x2(xp, (int)w, (int)oh, (int)ow, yp, ap);
        else
            pool_any(xp, (int)w, (int)oh, (int)ow, kh, kw, sh, sw, yp, ap);
    }
    if (rec) {
        wg_node *nd = wg_op_record(t, &wg_op_maxpool2d, y, &x, 1);
        if (!nd)
            return wg_poison(t);
        nd->saved = arg;
        nd->hp[HP_KH] = kh;
        nd->hp[HP_KW] = kw;
        nd->hp[HP_SH] = sh;
        nd->hp[HP_SW] = sw;
    }
    return y;
}

wg_tensor *wg_maxpool2d(wg_tape *t, wg_tensor *x, int kernel, int stride)
{
    return wg_maxpool2d_ex(t, x, kernel, kernel, stride, stride);
}
