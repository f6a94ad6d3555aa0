/* Element-wise transcendental functions over arrays: the one home for
 * them. With SLEEF (Debian's libsleef-dev, the vector math library PyTorch
 * uses) and a CPU with AVX2 and FMA, 8 floats (4 doubles) are computed at
 * a time within 1 ulp; otherwise libm's scalar functions.
 *
 * Every element goes through the same function whichever thread or lane
 * computes it, so results do not depend on the thread count: the vector
 * path handles a ragged tail through a padded lane buffer, never through
 * the scalar function. */
#include "internal.h"

#include <math.h>
#include <string.h>

#ifdef WG_DOUBLE
#define TANH tanh
#define EXP exp
#else
#define TANH tanhf
#define EXP expf
#endif

typedef enum { F_TANH, F_SIGMOID, F_EXP } vfunc;

/* ---- the SLEEF path ------------------------------------------------------ */
/* GCC's target pragma; clang ignores it (a clang build compiles this file
 * with -mavx2 -mfma, or takes the scalar path) */
#if defined(HAVE_SLEEF) && defined(__x86_64__) && defined(__GNUC__) && \
    (!defined(__clang__) || (defined(__AVX2__) && defined(__FMA__)))
#define WG_VECTOR 1
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#include <immintrin.h>
#include <sleef.h>

#ifdef WG_DOUBLE
#define LANES 4
typedef __m256d vreal;
#define VLOAD _mm256_loadu_pd
#define VSTORE _mm256_storeu_pd
#define VSET1 _mm256_set1_pd
#define VADD _mm256_add_pd
#define VDIV _mm256_div_pd
#define VMUL _mm256_mul_pd
#define VABS(v) _mm256_andnot_pd(_mm256_set1_pd(-0.0), (v))
#define VNEG(v) _mm256_xor_pd(_mm256_set1_pd(-0.0), (v))
#define VBLEND_NEG(neg_val, pos_val, x) _mm256_blendv_pd((pos_val), (neg_val), (x))
#define VTANH Sleef_tanhd4_u10
#define VEXP Sleef_expd4_u10
#else
#define LANES 8
typedef __m256 vreal;
#define VLOAD _mm256_loadu_ps
#define VSTORE _mm256_storeu_ps
#define VSET1 _mm256_set1_ps
#define VADD _mm256_add_ps
#define VDIV _mm256_div_ps
#define VMUL _mm256_mul_ps
#define VABS(v) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), (v))
#define VNEG(v) _mm256_xor_ps(_mm256_set1_ps(-0.0f), (v))
/* blendv picks by the sign bit of x: negative lanes take neg_val */
#define VBLEND_NEG(neg_val, pos_val, x) _mm256_blendv_ps((pos_val), (neg_val), (x))
#define VTANH Sleef_tanhf8_u10
#define VEXP Sleef_expf8_u10
#endif

static inline vreal apply(vfunc f, vreal x)
{
    switch (f) {
    case F_TANH:
        return VTANH(x);
    case F_EXP:
        return VEXP(x);
    case F_SIGMOID: {
        /* e = exp(-|x|) never overflows; s = 1 / (1 + e) is sigmoid(|x|) */
        vreal e = VEXP(VNEG(VABS(x)));
        vreal s = VDIV(VSET1(1), VADD(VSET1(1), e));
        return VBLEND_NEG(VMUL(e, s), s, x);
    }
    }
    return x;
}

/* n elements from x to y, n a multiple of LANES except at the array's end */
static void block_vec(vfunc f, int64_t n, const wg_real *x, wg_real *y)
{
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        VSTORE(y + i, apply(f, VLOAD(x + i)));
    if (i < n) {
        wg_real in[LANES] = { 0 }, out[LANES];
        memcpy(in, x + i, (size_t)(n - i) * sizeof *in);
        VSTORE(out, apply(f, VLOAD(in)));
        memcpy(y + i, out, (size_t)(n - i) * sizeof *out);
    }
}
#pragma GCC pop_options

static bool have_vector(void)
{
    static int cached = -1;
    if (cached < 0) /* a benign race: every thread computes the same answer */
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return cached;
}
#endif

/* ---- the scalar path -------------------------------------------------------- */
static void block_scalar(vfunc f, int64_t n, const wg_real *x, wg_real *y)
{
    for (int64_t i = 0; i < n; i++) {
        switch (f) {
        case F_TANH: y[i] = TANH(x[i]); break;
        case F_EXP: y[i] = EXP(x[i]); break;
        case F_SIGMOID: {
            /* two branches keep exp from overflowing for large |x| */
            wg_real e = EXP(x[i] < 0 ? x[i] : -x[i]);
            wg_real s = 1 / (1 + e);
            y[i] = x[i] >= 0 ? s : e * s;
            break;
        }
        }
    }
}

/* Blocks of a fixed size (a multiple of every lane count) run in parallel. */
#define BLOCK 4096

static void run(vfunc f, int64_t n, const wg_real *x, wg_real *y)
{
    void (*block)(vfunc, int64_t, const wg_real *, wg_real *) = block_scalar;
#ifdef WG_VECTOR
    if (have_vector())
        block = block_vec;
#endif
    const int64_t blocks = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for num_threads(wg_threads_for(n * 8)) schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
        int64_t s = b * BLOCK, len = n - s < BLOCK ? n - s : BLOCK;
        block(f, len, x + s, y + s);
    }
}

void wg_vtanh(int64_t n, const wg_real *x, wg_real *y)
{
    run(F_TANH, n, x, y);
}

void wg_vsigmoid(int64_t n, const wg_real *x, wg_real *y)
{
    run(F_SIGMOID, n, x, y);
}

void wg_vexp(int64_t n, const wg_real *x, wg_real *y)
{
    run(F_EXP, n, x, y);
}

const char *wg_vmath_name(void)
{
#ifdef WG_VECTOR
    if (have_vector())
        return "SLEEF AVX2";
#endif
    return "libm";
}
