/* The vector math behind tanh and sigmoid (our own tanh and SLEEF's
 * sigmoid when the CPU has AVX2, libm otherwise) against libm in double
 * precision: at most a few ulp apart over the whole range, the right
 * limits at the extremes, NaN in NaN out, and the same bits whatever the
 * length of the array (vector lanes, the padded tail, and thread blocks
 * must not change a value).
 *
 * The float tanh of the vector paths (autograd/vtanh.h) is held to 1 ulp
 * from the exact value on a few million points chosen to catch its weak
 * spots: random bit patterns (subnormals, huge values, NaN), every binade,
 * and thousands of neighbours of each switchover; tools/tanh_sweep.c
 * checks all 2^32 floats. */
#include "check.h"

#include <float.h>
#include <stdint.h>
#include <string.h>
#include <wengert.h>

static double ulps(float got, double want)
{
    float w = (float)want;
    double ulp = fmax((double)nextafterf(fabsf(w), INFINITY) - fabsf(w), FLT_MIN * FLT_EPSILON);
    return fabs((double)got - want) / ulp;
}

/* |got - want| in units of the float ulp of the binade holding |want|
 * (2^-24 for want in [0.5, 1)): stricter than ulps() just below 1 */
static double ulps_strict(float got, double want)
{
    int e;
    frexp(want, &e);
    double ulp = ldexp(1, (e - 24 < -149 ? -149 : e - 24));
    return fabs((double)got - want) / ulp;
}

static float from_bits(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static uint32_t bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* tanh on M points against libm's double tanh, with its edge cases */
static void tanh_points(wg_tape *t, double bound)
{
    enum { M = 3 << 20 };
    static float x[M], y[M];
    int n = 0;
    wg_rng r = wg_rng_seed(11);
    /* the switchovers of vtanh.h (9/16, its clamp 9.125), where tanh
     * crosses 1/2 and where it starts to round to 1, and a few more:
     * 4000 neighbours each side, both signs */
    const float edges[] = { 0x1.2p-1f, 0x1.24p3f, 0.54930614f, 9.0109134f, 1, 0.25f, 2, 0x1p-12f };
    for (size_t e = 0; e < sizeof edges / sizeof *edges; e++)
        for (int d = -4000; d <= 4000; d++) {
            x[n] = from_bits(bits(edges[e]) + (uint32_t)d);
            x[n + 1] = -x[n];
            n += 2;
        }
    /* specials */
    const float sp[] = { 0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, FLT_MIN, -FLT_MIN,
                         FLT_TRUE_MIN, -FLT_TRUE_MIN, FLT_MAX, -FLT_MAX, 0x1p-75f, 20, -20 };
    for (size_t i = 0; i < sizeof sp / sizeof *sp; i++)
        x[n++] = sp[i];
    /* every binade from subnormals up to 2^8, 2000 points each */
    for (int e = -149; e < 8; e++)
        for (int i = 0; i < 2000; i++)
            x[n++] = (float)ldexp(1 + wg_rng_uniform(&r), e) * (i & 1 ? -1 : 1);
    /* uniform over [-10, 10] (half the rest), then random bit patterns */
    int half = n + (M - n) / 2;
    while (n < half)
        x[n++] = (float)(20 * wg_rng_uniform(&r) - 10);
    while (n < M) {
        uint32_t b = (uint32_t)(wg_rng_uniform(&r) * 4294967296.0);
        x[n++] = from_bits(b);
    }

    wg_tensor *in = wg_input(t, x, WG_SHAPE(M));
    memcpy(y, wg_data(wg_tanh(t, in)), sizeof y);
    double worst = 0;
    int at = 0, nan_bad = 0, zero_bad = 0, odd_bad = 0;
    for (int i = 0; i < M; i++) {
        if (isnan(x[i])) {
            nan_bad += !isnan(y[i]);
            continue;
        }
        double u = ulps_strict(y[i], tanh((double)x[i]));
        if (u > worst)
            worst = u, at = i;
        if (x[i] == 0)
            zero_bad += bits(y[i]) != bits(x[i]);
    }
    /* exactly odd: the neighbours of each edge come in (x, -x) pairs */
    for (int i = 0; i < (int)(sizeof edges / sizeof *edges) * 8001 * 2; i += 2)
        odd_bad += bits(y[i + 1]) != (bits(y[i]) ^ 0x80000000u);
    printf("tanh on %d points: worst %.3f ulp at x = %a (%.9g)\n", M, worst, (double)x[at],
           (double)x[at]);
    CHECK(worst <= bound, "tanh: %.3f ulp from the exact value at x = %a", worst, (double)x[at]);
    CHECK(nan_bad == 0, "tanh: %d NaN inputs gave a number", nan_bad);
    CHECK(zero_bad == 0, "tanh(+-0) is not +-0");
    CHECK(odd_bad == 0, "tanh(-x) != -tanh(x) for %d x", odd_bad);
}

int main(void)
{
    printf("%s\n", wg_build_info());
    /* the vector paths' tanh is ours, held to 1 ulp; libm's tanhf (the
     * portable path) is glibc's, which promises less */
    const bool ours = strstr(wg_build_info(), "vector math libm") == NULL;
    const double tanh_bound = ours ? 1.0 : 4.0;
    enum { N = 200003 }; /* ragged: not a multiple of any lane count or block */
    static float x[N], y[N], y1[N];
    wg_rng r = wg_rng_seed(5);
    for (int i = 0; i < N; i++) /* dense near 0, and out to +-40 */
        x[i] = (float)((2 * wg_rng_uniform(&r) - 1) * (i % 3 == 0 ? 40 : i % 3 == 1 ? 4 : 0.01));
    x[0] = 0, x[1] = -0.0f, x[2] = 1e-30f, x[3] = -88.7f, x[4] = 88.7f, x[5] = 1e30f, x[6] = -1e30f;
    wg_tape *t = wg_tape_new();
    wg_tape_set_grad(t, false);

    for (int f = 0; f < 2; f++) {
        wg_tensor *in = wg_input(t, x, WG_SHAPE(N));
        wg_tensor *out = f == 0 ? wg_tanh(t, in) : wg_sigmoid(t, in);
        memcpy(y, wg_data(out), sizeof y);
        double worst = 0;
        int at = 0;
        for (int i = 0; i < N; i++) {
            double want = f == 0 ? tanh((double)x[i]) : 1 / (1 + exp(-(double)x[i]));
            double u = ulps(y[i], want);
            if (u > worst)
                worst = u, at = i;
        }
        const char *name = f == 0 ? "tanh" : "sigmoid";
        printf("%s: worst %.2f ulp at x = %.9g\n", name, worst, (double)x[at]);
        double bound = f == 0 ? tanh_bound : 4;
        CHECK(worst <= bound, "%s: %.2f ulp from libm at x = %.9g", name, worst, (double)x[at]);
        /* the same values computed one element at a time (tails only) */
        int bad = 0;
        for (int i = 0; i < 2000; i++) {
            wg_tensor *one = wg_input(t, &x[i], WG_SHAPE(1));
            wg_tensor *o1 = f == 0 ? wg_tanh(t, one) : wg_sigmoid(t, one);
            y1[i] = wg_data(o1)[0];
            bad += memcmp(&y1[i], &y[i], sizeof(float)) != 0;
        }
        CHECK(bad == 0, "%s: %d values differ between an array and single elements", name, bad);
        wg_tape_reset(t);
        wg_tape_set_grad(t, false);
    }

    tanh_points(t, tanh_bound);
    wg_tape_reset(t);
    wg_tape_set_grad(t, false);

    /* limits and NaN */
    const float ext[8] = { 1e30f, -1e30f, 100, -100, NAN, -0.0f, INFINITY, -INFINITY };
    wg_tensor *e = wg_input(t, ext, WG_SHAPE(8));
    const float *s = wg_data(wg_sigmoid(t, e)), *th = wg_data(wg_tanh(t, e));
    CHECK(s[0] == 1 && s[1] == 0 && s[2] == 1 && s[3] >= 0 && s[3] < 1e-40f, "sigmoid limits");
    CHECK(th[0] == 1 && th[1] == -1 && th[2] == 1 && th[3] == -1, "tanh limits");
    CHECK(isnan(s[4]) && isnan(th[4]), "NaN propagates");
    CHECK(s[5] == 0.5f && th[5] == 0 && signbit(th[5]), "values at -0");
    CHECK(th[6] == 1 && th[7] == -1, "tanh at +-inf");
    wg_tape_free(t);
    return check_done("test_vmath");
}
