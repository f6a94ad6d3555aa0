/* make check-long: many thousand training steps (LeNet-5 with Adam, and
 * evaluation in between) with resident memory sampled along the way: after
 * warm-up it must stay flat, not grow. */
#include "check.h"

#include <stdlib.h>
#include <string.h>
#include <wengert.h>

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * 4;
}

int main(int argc, char **argv)
{
    long steps = argc > 1 ? atol(argv[1]) : 4000;
    wg_model *m = wg_lenet5(10, WG_INIT_DEFAULT, 1);
    wg_optim *o = wg_adam(wg_model_params(m), (wg_adam_opts){ .lr = 1e-3 });
    wg_tape *t = wg_tape_new(), *ev = wg_tape_new();
    wg_tape_set_grad(ev, false);
    static wg_real x[64 * 784];
    int32_t y[64];
    wg_rng r = wg_rng_seed(1);
    for (int i = 0; i < 64 * 784; i++)
        x[i] = (wg_real)wg_rng_uniform(&r);
    for (int i = 0; i < 64; i++)
        y[i] = i % 10;
    long warm = 0, peak = 0;
    for (long s = 1; s <= steps; s++) {
        int n = s % 7 == 0 ? 37 : 64; /* a smaller batch now and then, as at an epoch's end */
        wg_tensor *out = wg_model_forward(m, t, wg_input(t, x, WG_SHAPE(n, 1, 28, 28)));
        if (wg_backward(t, wg_softmax_cross_entropy(t, out, y)) != WG_OK || wg_optim_step(o)) {
            fprintf(stderr, "%s\n", wg_tape_error(t));
            return 1;
        }
        wg_tape_reset(t);
        if (s % 500 == 0) { /* evaluation on its own tape */
            wg_model_forward(m, ev, wg_input(ev, x, WG_SHAPE(64, 1, 28, 28)));
            wg_tape_reset(ev);
        }
        long kb = rss_kb();
        /* warm-up: two evaluations, since a tape's first reset gathers its
         * chunks into one new block that the second use then touches */
        if (s == 1100)
            warm = kb;
        if (s > 1100 && kb > peak)
            peak = kb;
        if (s % (steps > 2000 ? 1000 : 100) == 0)
            printf("step %5ld: resident %ld kB\n", s, kb);
    }
    printf("after warm-up %ld kB, highest later %ld kB\n", warm, peak);
    CHECK(peak - warm < 1024, "resident memory grew by %ld kB after warm-up", peak - warm);
    wg_tape_free(t);
    wg_tape_free(ev);
    wg_optim_free(o);
    wg_model_free(m);
    return check_done("long_memory");
}
