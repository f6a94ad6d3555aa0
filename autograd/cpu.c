/* Which vector instructions the hand-vectorised kernels (vmath.c, the
 * direct convolution) may use: the CPU's, capped by the environment
 * variable WG_CPU (generic, avx2 or avx512). The cap lets a user rule out
 * a path, and lets the tests run the AVX2 and the portable paths on a
 * machine that would take AVX-512. Read once; a machine always takes the
 * same path, so results never depend on the thread count. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static int detect(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return WG_CPU_GENERIC;
    return __builtin_cpu_supports("avx512f") ? WG_CPU_AVX512 : WG_CPU_AVX2;
#else
    return WG_CPU_GENERIC;
#endif
}

int wg_cpu_level(void)
{
    static int cached = -1;
    if (cached < 0) { /* a benign race: every thread computes the same answer */
        int level = detect();
        const char *cap = getenv("WG_CPU");
        if (cap && strcmp(cap, "generic") == 0)
            level = WG_CPU_GENERIC;
        else if (cap && strcmp(cap, "avx2") == 0 && level > WG_CPU_AVX2)
            level = WG_CPU_AVX2;
        cached = level;
    }
    return cached;
}
