/* Serial element-wise loops compiled three times, for the x86-64 baseline,
 * AVX2 and AVX-512, and chosen at run time by wg_cpu_level() (so the
 * WG_CPU cap applies). The library is built for the baseline; these loops
 * (optimizer updates, batch conversion) are small enough to live in L1/L2,
 * where the baseline's 4-float vectors leave the core mostly idle.
 *
 * Write the loop once as a WG_ISA_INLINE function `name(args)`, then
 *     WG_ISA_CLONES(name, (params), (args))
 * defines name_generic, name_avx2, name_avx512 and name_pick(), which
 * returns the one for this CPU.
 *
 * Including this file turns off floating-point contraction for the rest of
 * the including file: AVX-512F has its own FMA instructions, and GCC would
 * fuse a * b + c in the AVX-512 clone only, so the paths would round
 * differently. Without contraction every lane computes exactly what the
 * scalar code says, and all three clones give the same bits. */
#ifndef WG_ISA_H
#define WG_ISA_H

#include "internal.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* the loop's own definition: inlined into each clone */
#define WG_ISA_INLINE static inline __attribute__((always_inline))

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define WG_ISA_CLONES(name, params, args)                                            \
    static void name##_generic params { name args; }                                 \
    __attribute__((target("avx2"))) static void name##_avx2 params { name args; }    \
    __attribute__((target("avx512f"))) static void name##_avx512 params { name args; } \
    static void (*name##_pick(void)) params                                          \
    {                                                                                \
        int level = wg_cpu_level();                                                  \
        return level == WG_CPU_AVX512 ? name##_avx512                                \
               : level == WG_CPU_AVX2 ? name##_avx2                                  \
                                      : name##_generic;                              \
    }
#else
#define WG_ISA_CLONES(name, params, args)                                            \
    static void name##_generic params { name args; }                                 \
    static void (*name##_pick(void)) params { return name##_generic; }
#endif

#endif
