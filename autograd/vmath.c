/* Element-wise transcendental functions over arrays: the one home for
 * them. With SLEEF (Debian's libsleef-dev, the vector math library PyTorch
 * uses) and a CPU with AVX2 and FMA, 8 floats (4 doubles) are computed at
 * a time, 16 (8) with AVX-512; otherwise libm's scalar functions. On the
 * vector paths every function is within 1 ulp: the float tanh is our own
 * (vtanh.h: float arithmetic only, about 3x faster than SLEEF's 1-ulp
 * tanhf, and giving the same bits on both vector paths); the float
 * sigmoid and exp, and everything in double precision, are SLEEF's 1-ulp
 * functions.
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

/* ---- the vector paths (SLEEF, and our float tanh) ------------------------ */
/* AVX2 + FMA (8 floats), and with GCC also AVX-512 (16 floats, about 1.5x
 * faster for tanh where the CPU has it); chosen once at run time, so one
 * machine always takes the same path. GCC's target pragma makes sleef.h
 * declare the functions of those instruction sets; clang ignores it (a
 * clang build compiles this file with -mavx2 -mfma and takes the AVX2 path,
 * or the scalar one; vtanh.h likewise leaves out its AVX-512 function
 * under clang). */
#if defined(HAVE_SLEEF) && defined(__x86_64__) && defined(__GNUC__) && \
    (!defined(__clang__) || (defined(__AVX2__) && defined(__FMA__)))
#define WG_VECTOR 1
#ifndef __clang__
#define WG_VECTOR512 1
#endif
/* immintrin.h first, outside the pragma, so that each intrinsic keeps its
 * own instruction set and can be inlined into either path */
#include <immintrin.h>
#pragma GCC push_options
#ifdef WG_VECTOR512
#pragma GCC target("avx2,fma,avx512f")
#else
#pragma GCC target("avx2,fma")
#endif
#include <sleef.h>
#pragma GCC pop_options
#ifndef WG_DOUBLE
#include "vtanh.h"
#endif

/* vmath_isa.h defines apply_<ISA> and block_<ISA> from these macros */
#define ISA avx2
#define ISA_TARGET "avx2,fma"
#ifdef WG_DOUBLE
#define LANES 4
typedef __m256d vreal_avx2;
#define VLOAD _mm256_loadu_pd
#define VSTORE _mm256_storeu_pd
#define VSET1 _mm256_set1_pd
#define VADD _mm256_add_pd
#define VDIV _mm256_div_pd
#define VMUL _mm256_mul_pd
#define VABS(v) _mm256_andnot_pd(_mm256_set1_pd(-0.0), (v))
#define VNEG(v) _mm256_xor_pd(_mm256_set1_pd(-0.0), (v))
/* blendv picks by the sign bit of x: negative lanes take neg_val */
#define VBLEND_NEG(neg_val, pos_val, x) _mm256_blendv_pd((pos_val), (neg_val), (x))
#define VTANH Sleef_tanhd4_u10
#define VEXP Sleef_expd4_u10
#else
#define LANES 8
typedef __m256 vreal_avx2;
#define VLOAD _mm256_loadu_ps
#define VSTORE _mm256_storeu_ps
#define VSET1 _mm256_set1_ps
#define VADD _mm256_add_ps
#define VDIV _mm256_div_ps
#define VMUL _mm256_mul_ps
#define VABS(v) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), (v))
#define VNEG(v) _mm256_xor_ps(_mm256_set1_ps(-0.0f), (v))
#define VBLEND_NEG(neg_val, pos_val, x) _mm256_blendv_ps((pos_val), (neg_val), (x))
#define VTANH wg_tanhf_avx2
#define VEXP Sleef_expf8_u10
#endif
#define vreal vreal_avx2
#include "vmath_isa.h"

#ifdef WG_VECTOR512
#define ISA avx512
#define ISA_TARGET "avx2,fma,avx512f"
#ifdef WG_DOUBLE
#define LANES 8
typedef __m512d vreal_avx512;
#define VLOAD _mm512_loadu_pd
#define VSTORE _mm512_storeu_pd
#define VSET1 _mm512_set1_pd
#define VADD _mm512_add_pd
#define VDIV _mm512_div_pd
#define VMUL _mm512_mul_pd
#define VABS(v) _mm512_abs_pd(v)
#define VNEG(v) _mm512_sub_pd(_mm512_setzero_pd(), (v))
/* x < 0 takes neg_val; -0 and NaN take pos_val, which equals neg_val there */
#define VBLEND_NEG(neg_val, pos_val, x) \
    _mm512_mask_blend_pd(_mm512_cmp_pd_mask((x), _mm512_setzero_pd(), _CMP_LT_OQ), (pos_val), (neg_val))
#define VTANH Sleef_tanhd8_u10avx512f
#define VEXP Sleef_expd8_u10avx512f
#else
#define LANES 16
typedef __m512 vreal_avx512;
#define VLOAD _mm512_loadu_ps
#define VSTORE _mm512_storeu_ps
#define VSET1 _mm512_set1_ps
#define VADD _mm512_add_ps
#define VDIV _mm512_div_ps
#define VMUL _mm512_mul_ps
#define VABS(v) _mm512_abs_ps(v)
#define VNEG(v) _mm512_sub_ps(_mm512_setzero_ps(), (v))
#define VBLEND_NEG(neg_val, pos_val, x) \
    _mm512_mask_blend_ps(_mm512_cmp_ps_mask((x), _mm512_setzero_ps(), _CMP_LT_OQ), (pos_val), (neg_val))
#define VTANH wg_tanhf_avx512
#define VEXP Sleef_expf16_u10avx512f
#endif
#define vreal vreal_avx512
#include "vmath_isa.h"
#endif

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
    if (wg_cpu_level() >= WG_CPU_AVX2)
        block = block_avx2;
#endif
#ifdef WG_VECTOR512
    if (wg_cpu_level() == WG_CPU_AVX512)
        block = block_avx512;
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

/* whose code computes tanh and exp, so a benchmark table says it */
#ifdef WG_DOUBLE
#define VM_WHO "SLEEF"
#else
#define VM_WHO "own tanh + SLEEF exp"
#endif
const char *wg_vmath_name(void)
{
#ifdef WG_VECTOR512
    if (wg_cpu_level() == WG_CPU_AVX512)
        return "AVX-512 (" VM_WHO ")";
#endif
#ifdef WG_VECTOR
    if (wg_cpu_level() >= WG_CPU_AVX2)
        return "AVX2 (" VM_WHO ")";
#endif
    return "libm";
}
