/* Our own single-precision vector tanh, in float arithmetic throughout:
 * wg_tanhf_avx2 (8 lanes, AVX2 + FMA) and, with GCC, wg_tanhf_avx512 (16
 * lanes). Both run the same sequence of correctly rounded IEEE operations,
 * so they give the same bits as each other for every input. At most 1 ulp
 * from the exact tanh over every float (tools/tanh_sweep.c checks all 2^32
 * of them); see vtanh_body.h for the method and the error argument. Not a
 * public header: vmath.c and bench/vmath_speed.c include it.
 *
 * The coefficients were fitted for this file by tools/fit_tanh.py. */
#ifndef WG_VTANH_H
#define WG_VTANH_H

#include <immintrin.h>

/* the switchover between the polynomial and the exp formula: 9/16, just
 * above 0.5493 where tanh reaches 1/2 (vtanh_body.h says why there) */
#define VT_SWITCH 0x1.2p-1f
/* |x| is clamped here before the exp formula: beyond 9.0109, tanh rounds
 * to 1 in float, and the formula gives exactly 1 for 9.125 */
#define VT_CLAMP 0x1.24p3f

/* tanh(a) ~ a + a^3 P(a^2) for 0 <= a <= 9/16; a near-minimax fit whose
 * error relative to tanh is 0.023 * 2^-24 */
#define VT_P0 -0x1.555548p-2f
#define VT_P1 0x1.110c5ep-3f
#define VT_P2 -0x1.b905c4p-5f
#define VT_P3 0x1.5811f6p-6f
#define VT_P4 -0x1.9454f0p-8f

/* expm1(s) ~ s + s^2 Q(s) for |s| <= ln2/2; error 0.052 * 2^-24 relative
 * to e^s */
#define VT_Q0 0x1.fffffcp-2f
#define VT_Q1 0x1.555492p-3f
#define VT_Q2 0x1.5558acp-5f
#define VT_Q3 0x1.12397ep-7f
#define VT_Q4 0x1.6a518ap-10f

/* 2/ln2, and ln2 split as the nearest float plus the rest */
#define VT_2_LN2 0x1.715476p+1f
#define VT_LN2_HI 0x1.62e430p-1f
#define VT_LN2_LO -0x1.05c610p-29f
/* 1.5 * 2^23 + 127: added to 2|x|/ln2, it rounds to an integer k and leaves
 * k + 127 (the biased exponent of 2^k) in the low bits */
#define VT_SHIFTER 0x1.8000fep+23f

/* ---- AVX2 + FMA --------------------------------------------------------- */
#define VT_NAME wg_tanhf_avx2
#define VT_TARGET "avx2,fma"
#define vt __m256
#define T_SET1 _mm256_set1_ps
#define T_ADD _mm256_add_ps
#define T_SUB _mm256_sub_ps
#define T_MUL _mm256_mul_ps
#define T_DIV _mm256_div_ps
#define T_FMA _mm256_fmadd_ps
#define T_FNMA _mm256_fnmadd_ps
#define T_MIN _mm256_min_ps
#define T_AND _mm256_and_ps
#define T_XOR _mm256_xor_ps
#define T_SHL23(v) _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(v), 23))
#define T_SELECT_GE(a, b, if_ge, else_) \
    _mm256_blendv_ps((else_), (if_ge), _mm256_cmp_ps((a), (b), _CMP_GE_OQ))
#include "vtanh_body.h"

/* ---- AVX-512F ------------------------------------------------------------ */
/* GCC only, as in vmath.c: clang compiles that file with -mavx2 -mfma and
 * never takes an AVX-512 path */
#ifndef __clang__
#define WG_VTANH512 1
#define VT_NAME wg_tanhf_avx512
#define VT_TARGET "avx2,fma,avx512f"
#define vt __m512
#define T_SET1 _mm512_set1_ps
#define T_ADD _mm512_add_ps
#define T_SUB _mm512_sub_ps
#define T_MUL _mm512_mul_ps
#define T_DIV _mm512_div_ps
#define T_FMA _mm512_fmadd_ps
#define T_FNMA _mm512_fnmadd_ps
#define T_MIN _mm512_min_ps
#define T_AND(a, b) _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)))
#define T_XOR(a, b) _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)))
#define T_SHL23(v) _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(v), 23))
#define T_SELECT_GE(a, b, if_ge, else_) \
    _mm512_mask_blend_ps(_mm512_cmp_ps_mask((a), (b), _CMP_GE_OQ), (else_), (if_ge))
#include "vtanh_body.h"
#endif

#endif
