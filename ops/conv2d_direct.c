/* Stride-1 convolutions computed directly, without im2col and GEMM, where
 * the CPU has AVX2 + FMA or AVX-512 (wg_cpu_level): the forward, and the
 * input gradient (a correlation of dy with the flipped kernel, the same
 * loops walking the planes backwards).
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
#include "ops.h"

#include <string.h>

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

void wg_conv_direct(const wg_real *xp, int64_t plane, int64_t istep, int64_t jstep, int c, int kh,
                    int kw, int o, const wg_real *wt, const wg_real *bias, int64_t len,
                    wg_real *y, int64_t ld)
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
