/* The vector math behind tanh and sigmoid (SLEEF when the CPU has AVX2,
 * libm otherwise) against libm in double precision: at most a few ulp
 * apart over the whole range, the right limits at the extremes, NaN in
 * NaN out, and the same bits whatever the length of the array (vector
 * lanes, the padded tail, and thread blocks must not change a value). */
#include "check.h"

#include <float.h>
#include <string.h>
#include <wengert.h>

static double ulps(float got, double want)
{
    float w = (float)want;
    double ulp = fmax((double)nextafterf(fabsf(w), INFINITY) - fabsf(w), FLT_MIN * FLT_EPSILON);
    return fabs((double)got - want) / ulp;
}

int main(void)
{
    printf("%s\n", wg_build_info());
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
        CHECK(worst <= 4, "%s: %.2f ulp from libm at x = %.9g", name, worst, (double)x[at]);
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

    /* limits and NaN */
    const float ext[6] = { 1e30f, -1e30f, 100, -100, NAN, -0.0f };
    wg_tensor *e = wg_input(t, ext, WG_SHAPE(6));
    const float *s = wg_data(wg_sigmoid(t, e)), *th = wg_data(wg_tanh(t, e));
    CHECK(s[0] == 1 && s[1] == 0 && s[2] == 1 && s[3] >= 0 && s[3] < 1e-40f, "sigmoid limits");
    CHECK(th[0] == 1 && th[1] == -1 && th[2] == 1 && th[3] == -1, "tanh limits");
    CHECK(isnan(s[4]) && isnan(th[4]), "NaN propagates");
    CHECK(s[5] == 0.5f && th[5] == 0, "values at -0");
    wg_tape_free(t);
    return check_done("test_vmath");
}
