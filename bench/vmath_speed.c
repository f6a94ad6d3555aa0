/* ns per element of the float vector tanh: SLEEF's 1-ulp functions against
 * ours (autograd/vtanh.h), on the AVX-512 and the AVX2 + FMA paths, in one
 * run, one thread. CPU time of this thread (the machine may be shared), the
 * best of several repetitions; arrays of 300k floats reused (cache-resident)
 * and of 32M floats touched once per pass (streaming from memory), inputs
 * uniform in [-4, 4] (LeNet's pre-activations lie well inside; both
 * kernels are branch-free, so the values do not change the time).
 *
 *   make bench/vmath_speed && bench/vmath_speed
 *
 * GCC on x86-64 with SLEEF only (as vmath.c's vector paths). */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vtanh.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f")
#include <sleef.h>
#pragma GCC pop_options

typedef void kernel(int64_t n, const float *x, float *y);

__attribute__((target("avx2,fma"))) static void sleef_avx2(int64_t n, const float *x, float *y)
{
    for (int64_t i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, Sleef_tanhf8_u10(_mm256_loadu_ps(x + i)));
}

__attribute__((target("avx2,fma"))) static void ours_avx2(int64_t n, const float *x, float *y)
{
    for (int64_t i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, wg_tanhf_avx2(_mm256_loadu_ps(x + i)));
}

__attribute__((target("avx2,fma,avx512f"))) static void sleef_avx512(int64_t n, const float *x, float *y)
{
    for (int64_t i = 0; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, Sleef_tanhf16_u10avx512f(_mm512_loadu_ps(x + i)));
}

__attribute__((target("avx2,fma,avx512f"))) static void ours_avx512(int64_t n, const float *x, float *y)
{
    for (int64_t i = 0; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, wg_tanhf_avx512(_mm512_loadu_ps(x + i)));
}

static void libm_scalar(int64_t n, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = tanhf(x[i]);
}

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* best ns per element over reps timings of `passes` passes each */
static double time_it(kernel *k, int64_t n, const float *x, float *y, int passes, int reps)
{
    double best = INFINITY;
    k(n, x, y); /* warm up */
    for (int r = 0; r < reps; r++) {
        double t0 = cpu_ns();
        for (int p = 0; p < passes; p++)
            k(n, x, y);
        double t = (cpu_ns() - t0) / ((double)passes * n);
        if (t < best)
            best = t;
    }
    return best;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 7;
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f");
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        fprintf(stderr, "vmath_speed: this CPU lacks AVX2 + FMA\n");
        return 1;
    }
    const int64_t big = (int64_t)32 << 20, small = 300000;
    float *x = malloc(big * sizeof *x), *y = malloc(big * sizeof *y);
    if (!x || !y)
        return 1;
    uint64_t s = 88172645463325252ull;
    for (int64_t i = 0; i < big; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 8 - 4);
    }
    memset(y, 0, big * sizeof *y);

    struct {
        const char *name;
        kernel *k;
        int need512;
    } ks[] = {
        { "libm tanhf (scalar)", libm_scalar, 0 },
        { "SLEEF tanhf8_u10 (AVX2)", sleef_avx2, 0 },
        { "ours wg_tanhf_avx2", ours_avx2, 0 },
        { "SLEEF tanhf16_u10avx512f", sleef_avx512, 1 },
        { "ours wg_tanhf_avx512", ours_avx512, 1 },
    };
    printf("%-26s %14s %14s\n", "ns/element", "300k (cache)", "32M (stream)");
    for (size_t i = 0; i < sizeof ks / sizeof *ks; i++) {
        if (ks[i].need512 && !avx512)
            continue;
        double hot = time_it(ks[i].k, small, x, y, 50, reps);
        double cold = time_it(ks[i].k, big, x, y, 1, reps > 3 ? 3 : reps);
        printf("%-26s %14.3f %14.3f\n", ks[i].name, hot, cold);
    }
    free(x);
    free(y);
    return 0;
}
