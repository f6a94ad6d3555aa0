/* make check-long: one full epoch of LeNet-5 training on Fashion-MNIST,
 * run twice with 1 thread and once with 2: the parameters after the epoch
 * must be bitwise identical in all three runs. */
#include "check.h"

#include <stdlib.h>
#include <string.h>
#include <wengert.h>

static wg_real *train_epoch(const wg_dataset *d, int threads, int64_t *n)
{
    wg_set_num_threads(threads);
    wg_model *m = wg_lenet5(10, WG_INIT_DEFAULT, 7);
    wg_optim *o = wg_sgd(wg_model_params(m), (wg_sgd_opts){ .lr = 0.01, .momentum = 0.9 });
    wg_batcher *b = wg_batcher_new(d, 64, true, 7);
    wg_tape *t = wg_tape_new();
    static wg_real x[64 * 784];
    static int32_t y[64];
    int k;
    long steps = 0;
    while ((k = wg_batcher_next(b, x, y)) > 0) {
        wg_tensor *out = wg_model_forward(m, t, wg_input(t, x, WG_SHAPE(k, 1, 28, 28)));
        if (wg_backward(t, wg_softmax_cross_entropy(t, out, y)) != WG_OK ||
            wg_optim_step(o) != WG_OK) {
            fprintf(stderr, "step %ld: %s %s\n", steps, wg_tape_error(t), wg_last_error());
            exit(1);
        }
        wg_tape_reset(t);
        steps++;
    }
    *n = wg_params_numel(wg_model_params(m));
    wg_real *p = malloc(sizeof(wg_real) * (size_t)*n);
    memcpy(p, wg_params_values(wg_model_params(m)), sizeof(wg_real) * (size_t)*n);
    printf("%d thread%s: %ld steps\n", threads, threads == 1 ? "" : "s", steps);
    wg_tape_free(t);
    wg_batcher_free(b);
    wg_optim_free(o);
    wg_model_free(m);
    return p;
}

int main(void)
{
    wg_dataset d;
    if (wg_mnist_load(NULL, true, &d) != WG_OK) {
        fprintf(stderr, "%s\n", wg_last_error());
        return 77; /* no data: skipped */
    }
    int64_t n;
    wg_real *a = train_epoch(&d, 1, &n), *b = train_epoch(&d, 1, &n), *c = train_epoch(&d, 2, &n);
    CHECK(memcmp(a, b, sizeof(wg_real) * (size_t)n) == 0, "two 1-thread epochs differ");
    int64_t diff = 0;
    for (int64_t i = 0; i < n; i++)
        diff += memcmp(&a[i], &c[i], sizeof *a) != 0;
    CHECK(diff == 0, "%lld of %lld parameters differ between 1 and 2 threads", (long long)diff,
          (long long)n);
    free(a), free(b), free(c);
    wg_dataset_free(&d);
    return check_done("long_determinism");
}
