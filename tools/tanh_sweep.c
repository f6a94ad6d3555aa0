/* Every float through the library's tanh (wg_tanh, so the path vmath.c
 * picks for this CPU, capped by WG_CPU as usual) against libm's tanh in
 * double precision: all 2^32 bit patterns. Prints the worst error in ulps
 * (of the binade of the exact value: 2^-24 for results in [0.5, 1)) on
 * each side of the switchover of autograd/vtanh.h, how many results are
 * not the correctly rounded one, and checks NaN in NaN out, tanh(+-0) =
 * +-0 and exact oddness. Exits 1 if any float is more than 1 ulp off.
 *
 *   make tools/tanh_sweep && tools/tanh_sweep && WG_CPU=avx2 tools/tanh_sweep
 *
 * About a minute on 2 cores; part of make check-long. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wengert.h>

static double ulps_strict(float got, double want)
{
    int e;
    frexp(want, &e);
    double ulp = ldexp(1, (e - 24 < -149 ? -149 : e - 24));
    return fabs((double)got - want) / ulp;
}

int main(void)
{
    printf("%s\n", wg_build_info());
    enum { CHUNK = 1 << 24 };
    float *x = malloc(CHUNK * sizeof *x), *y = malloc(CHUNK * sizeof *y);
    if (!x || !y)
        return 2;
    wg_tape *t = wg_tape_new();
    const double sw = 0x1.2p-1; /* vtanh.h's VT_SWITCH */
    double worst_lo = 0, worst_hi = 0;
    float at_lo = 0, at_hi = 0;
    long long not_cr = 0, over = 0, nan_bad = 0, zero_bad = 0, odd_bad = 0;
    for (uint64_t c = 0; c < (1ull << 32); c += CHUNK) {
        for (uint32_t i = 0; i < CHUNK; i++) {
            uint32_t b = (uint32_t)(c + i);
            memcpy(&x[i], &b, sizeof b);
        }
        wg_tape_reset(t);
        wg_tape_set_grad(t, false);
        wg_tensor *out = wg_tanh(t, wg_input(t, x, WG_SHAPE(CHUNK)));
        if (!out) {
            fprintf(stderr, "tanh_sweep: %s\n", wg_tape_error(t));
            return 2;
        }
        memcpy(y, wg_data(out), CHUNK * sizeof *y);
        double wl = 0, wh = 0;
        float al = 0, ah = 0;
        long long ncr = 0, nov = 0, nb = 0, zb = 0;
#pragma omp parallel for reduction(+ : ncr, nov, nb, zb) schedule(static)
        for (uint32_t i = 0; i < CHUNK; i++) {
            float xi = x[i], yi = y[i];
            if (isnan(xi)) {
                nb += !isnan(yi);
                continue;
            }
            double want = tanh((double)xi);
            double u = ulps_strict(yi, want);
            ncr += yi != (float)want;
            nov += u > 1;
            if (xi == 0)
                zb += memcmp(&xi, &yi, sizeof xi) != 0;
            if (fabsf(xi) < sw ? u > wl : u > wh) {
#pragma omp critical
                {
                    if (fabsf(xi) < sw && u > wl)
                        wl = u, al = xi;
                    else if (fabsf(xi) >= sw && u > wh)
                        wh = u, ah = xi;
                }
            }
        }
        not_cr += ncr, over += nov, nan_bad += nb, zero_bad += zb;
        if (wl > worst_lo)
            worst_lo = wl, at_lo = al;
        if (wh > worst_hi)
            worst_hi = wh, at_hi = ah;
    }
    /* exact oddness, on a second pass over the positive half's images */
    for (uint64_t c = 0; c < (1ull << 31); c += CHUNK) {
        for (uint32_t i = 0; i < CHUNK; i++) {
            uint32_t b = (uint32_t)(c + i);
            memcpy(&x[i], &b, sizeof b);
        }
        wg_tape_reset(t);
        wg_tape_set_grad(t, false);
        memcpy(y, wg_data(wg_tanh(t, wg_input(t, x, WG_SHAPE(CHUNK)))), CHUNK * sizeof *y);
        for (uint32_t i = 0; i < CHUNK; i++)
            x[i] = -x[i];
        const float *yn = wg_data(wg_tanh(t, wg_input(t, x, WG_SHAPE(CHUNK))));
        for (uint32_t i = 0; i < CHUNK; i++) {
            uint32_t a, b;
            memcpy(&a, &y[i], sizeof a);
            memcpy(&b, &yn[i], sizeof b);
            odd_bad += !isnan(y[i]) && b != (a ^ 0x80000000u);
        }
    }
    printf("all 2^32 floats: worst %.4f ulp for |x| < 9/16 (at %a), %.4f ulp above (at %a)\n",
           worst_lo, (double)at_lo, worst_hi, (double)at_hi);
    printf("not correctly rounded: %lld of %lld non-NaN; more than 1 ulp off: %lld\n", not_cr,
           (long long)(0xffffffffll + 1 - 2 * ((1ll << 23) - 1)), over);
    printf("NaN in, number out: %lld; tanh(+-0) != +-0: %lld; tanh(-x) != -tanh(x): %lld\n",
           nan_bad, zero_bad, odd_bad);
    wg_tape_free(t);
    free(x);
    free(y);
    return over || nan_bad || zero_bad || odd_bad ? 1 : 0;
}
