/* custom_model: a model that is not in models/, written against the
 * public API the way users are meant to write their own.
 *
 * A small CNN: conv 3x3 (8) relu, max-pool 2, conv 3x3 (16) relu, max-pool
 * 2, a 64-unit relu layer and a 10-way classifier, trained with Adam. The
 * model is three things: a struct holding its layers, a forward function
 * in plain C, and a constructor that creates the named parameters. */
#include <stdlib.h>

#include "plot.h"
#include "trainer.h"

/* 1. The layers. Their parameters live in the model's store under
 *    PyTorch's names: conv1.weight, conv1.bias, ..., fc2.bias. */
typedef struct {
    wg_conv2d_layer conv1, conv2;
    wg_linear fc1, fc2;
} small_cnn;

/* 2. The forward pass: ordinary C calls, each recorded on the tape. */
static wg_tensor *small_cnn_forward(wg_model *m, wg_tape *t, wg_tensor *x, void *state)
{
    (void)m;
    const small_cnn *s = state;
    x = wg_activate(t, WG_ACT_RELU, wg_conv2d_layer_apply(t, &s->conv1, x), "conv1");
    x = wg_maxpool2d(t, x, 2, 2);                                   /* 8 x 14 x 14 */
    x = wg_activate(t, WG_ACT_RELU, wg_conv2d_layer_apply(t, &s->conv2, x), "conv2");
    x = wg_maxpool2d(t, x, 2, 2);                                   /* 16 x 7 x 7 */
    x = wg_activate(t, WG_ACT_RELU, wg_linear_apply(t, &s->fc1, wg_flatten(t, x)), "fc1");
    return wg_linear_apply(t, &s->fc2, x);
}

/* 3. The constructor: the model owns the state (freed with free()). */
static wg_model *small_cnn_new(uint64_t seed)
{
    small_cnn *s = calloc(1, sizeof *s);
    wg_model *m = s ? wg_model_new("small_cnn", small_cnn_forward, s, free, seed) : NULL;
    if (!m) {
        free(s);
        return NULL;
    }
    wg_params *p = wg_model_params(m);
    wg_rng *r = wg_model_rng(m);
    if (wg_conv2d_layer_init(&s->conv1, p, "conv1", 1, 8, 3, 1, 1, true, WG_INIT_DEFAULT, r) ||
        wg_conv2d_layer_init(&s->conv2, p, "conv2", 8, 16, 3, 1, 1, true, WG_INIT_DEFAULT, r) ||
        wg_linear_init(&s->fc1, p, "fc1", 16 * 7 * 7, 64, true, WG_INIT_DEFAULT, r) ||
        wg_linear_init(&s->fc2, p, "fc2", 64, 10, true, WG_INIT_DEFAULT, r)) {
        wg_model_free(m);
        return NULL;
    }
    return m;
}

int main(int argc, char **argv)
{
    ex_config cfg = ex_config_defaults();
    cfg.epochs = 3;
    cfg.batch = 64;
    cfg.lr = 1e-3;
    const ex_program prog = { "custom_model",
                              "Defines a small CNN of its own with the public API and trains it "
                              "on Fashion-MNIST with Adam.",
                              NULL, 0, NULL };
    int rc = ex_parse_args(argc, argv, &prog, &cfg);
    if (rc != EX_RUN)
        return rc;
    ex_apply_threads(&cfg);
    wg_dataset all, train, val, test;
    if (ex_load_data(&cfg, 5000, &all, &train, &val, &test) != 0)
        return 1;
    wg_model *m = small_cnn_new(cfg.seed);
    wg_optim *o = m ? wg_adam(wg_model_params(m), (wg_adam_opts){ .lr = cfg.lr }) : NULL;
    if (!o) {
        fprintf(stderr, "custom_model: %s\n", wg_last_error());
        return 1;
    }
    if (cfg.summary)
        return ex_print_summary(m, WG_SHAPE(1, 1, 28, 28));
    printf("small CNN: %lld parameters in %d tensors\n",
           (long long)wg_params_numel(wg_model_params(m)), wg_params_count(wg_model_params(m)));
    char csv[512];
    ex_path_join(csv, sizeof csv, cfg.out_dir, "metrics.csv");
    ex_trainer t = { .program = "custom_model", .cfg = &cfg, .model = m, .opt = o,
                     .task = EX_CLASSIFY, .schedule = { .kind = WG_SCHED_CONSTANT },
                     .base_lr = cfg.lr, .train = &train, .val = &val };
    rc = ex_train(&t, csv);
    if (rc == 0)
        rc = ex_report_classifier(&t, &test, csv, "A custom CNN on Fashion-MNIST",
                                  "Custom CNN, Fashion-MNIST test set");
    ex_trainer_free(&t);
    wg_optim_free(o);
    wg_model_free(m);
    wg_dataset_free(&test);
    wg_dataset_free(&all);
    return rc == 0 ? 0 : 1;
}
