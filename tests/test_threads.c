/* A forward and backward pass of a conv net gives bitwise identical loss
 * and gradients with 1 and with 2 threads, and run twice. */
#include "check.h"
#include "net_fixture.h"

#include <stdlib.h>
#include <string.h>

static wg_real *run(net_fixture *f, int threads, wg_real *loss)
{
    wg_set_num_threads(threads);
    wg_params_zero_grad(f->params);
    wg_tape *t = wg_tape_new();
    wg_tensor *l = net_fixture_forward(f, t);
    CHECK(wg_backward(t, l) == WG_OK, "%s", wg_tape_error(t));
    *loss = wg_item(l);
    int64_t n = wg_params_numel(f->params);
    wg_real *g = malloc((size_t)n * sizeof *g);
    memcpy(g, wg_params_grads(f->params), (size_t)n * sizeof *g);
    wg_tape_free(t);
    return g;
}

int main(void)
{
    net_fixture f;
    CHECK(net_fixture_init(&f, 64, 11) == 0, "fixture");
    wg_real l1, l2, l1b;
    wg_real *g1 = run(&f, 1, &l1);
    wg_real *g2 = run(&f, 2, &l2);
    wg_real *g1b = run(&f, 1, &l1b);
    int64_t n = wg_params_numel(f.params);
    CHECK(memcmp(&l1, &l2, sizeof l1) == 0, "loss differs: %.9g vs %.9g", l1, l2);
    CHECK(memcmp(&l1, &l1b, sizeof l1) == 0, "loss differs between runs");
    int64_t diff = 0, first = -1;
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&g1[i], &g2[i], sizeof *g1)) {
            if (first < 0)
                first = i;
            diff++;
        }
    CHECK(diff == 0, "%lld of %lld gradient values differ between 1 and 2 threads (first at %lld: %.9g vs %.9g)",
          (long long)diff, (long long)n, (long long)first, first >= 0 ? g1[first] : 0.0,
          first >= 0 ? g2[first] : 0.0);
    CHECK(memcmp(g1, g1b, (size_t)n * sizeof *g1) == 0, "repeat run differs");
    /* the test must not pass vacuously: the gradients are not all zero */
    double norm = 0;
    for (int64_t i = 0; i < n; i++)
        norm += (double)g1[i] * g1[i];
    CHECK(norm > 0, "gradient norm %g", norm);
    printf("loss %.9g, %lld gradient values bitwise equal at 1 and 2 threads\n", l1, (long long)n);
    free(g1);
    free(g2);
    free(g1b);
    net_fixture_free(&f);
    return check_done("test_threads");
}
