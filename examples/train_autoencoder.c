/* train_autoencoder: the four-layer autoencoder (784 -> 32 -> 32 -> 32 ->
 * 784, relu, relu, relu, sigmoid) on Fashion-MNIST, trained to reproduce
 * its input under the mean squared error, with SGD and momentum.
 *
 * Reports the test PSNR (per image 10 log10(1 / MSE), averaged) and leaves
 * metrics.csv, curves.png and reconstructions.png: two test images from
 * each of five classes, each original above its reconstruction. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"
#include "trainer.h"

/* originals (top row) and reconstructions (bottom row) of two test images
 * of each of five classes */
static int draw_reconstructions(const char *path, wg_model *m, const wg_dataset *test)
{
    static const int classes[5] = { 0, 1, 5, 7, 9 }; /* T-shirt, trouser, sandal, sneaker, boot */
    int64_t idx[10];
    int n = 0;
    for (int c = 0; c < 5; c++) {
        int found = 0;
        for (int64_t i = 0; i < test->count && found < 2; i++)
            if (test->labels[i] == classes[c]) {
                idx[n++] = i;
                found++;
            }
    }
    wg_real x[10 * 784], tiles[20 * 784];
    int32_t y[10];
    wg_dataset_batch(test, idx, n, x, y);
    wg_tape *t = wg_tape_new();
    wg_tape_set_grad(t, false);
    wg_tensor *out = wg_model_forward(m, t, wg_input(t, x, WG_SHAPE(n, 1, 28, 28)));
    int rc = -1;
    if (wg_tape_status(t) == WG_OK) {
        memcpy(tiles, x, sizeof(wg_real) * (size_t)n * 784);
        memcpy(tiles + (size_t)n * 784, wg_data(out), sizeof(wg_real) * (size_t)n * 784);
        const char *captions[20];
        for (int i = 0; i < n; i++) {
            captions[i] = ex_fashion_classes[y[i]];
            captions[n + i] = NULL; /* the row label says it */
        }
        const char *rows[2] = { "original", "autoencoder" };
        ex_grid_style st = { .title = "Autoencoder reconstructions (Fashion-MNIST test images)",
                             .subtitle = "top: original; bottom: after the 32-unit bottleneck",
                             .cols = n, .colormap = EX_CMAP_GRAY_INV, .scaling = EX_SCALE_FIXED,
                             .lo = 0, .hi = 1, .captions = captions, .row_labels = rows };
        rc = ex_plot_image_grid(path, tiles, 2 * n, 28, 28, &st);
        if (rc != 0)
            fprintf(stderr, "warning: %s\n", ex_last_error());
        else
            printf("wrote %s\n", path);
    }
    wg_tape_free(t);
    return rc;
}

int main(int argc, char **argv)
{
    ex_config cfg = ex_config_defaults();
    cfg.epochs = 10;
    cfg.batch = 64;
    cfg.lr = 5;
    double momentum = 0.9;
    int code = 32, n_val = 5000;
    const char *schedule = "cosine";
    const ex_option extra[] = {
        { "momentum", EX_OPT_DOUBLE, &momentum, "X", "SGD momentum", 0, 0.999 },
        { "code", EX_OPT_INT, &code, "N", "units of each of the three hidden layers", 1, 4096 },
        { "schedule", EX_OPT_STRING, &schedule, "NAME", EX_SCHEDULE_HELP, 0, 0 },
        { "val", EX_OPT_INT, &n_val, "N", "training images held out for validation", 0, 59000 },
        { 0 },
    };
    const ex_program prog = { "train_autoencoder",
                              "Trains a four-layer autoencoder (784 -> N -> N -> N -> 784) on "
                              "Fashion-MNIST with SGD and momentum.",
                              extra, 0, NULL };
    int rc = ex_parse_args(argc, argv, &prog, &cfg);
    if (rc != EX_RUN)
        return rc;
    wg_schedule sched;
    wg_dataset all, train, val, test;
    rc = ex_start_training(&prog, &cfg, schedule, n_val, &sched, &all, &train, &val, &test);
    if (rc != 0)
        return rc;
    wg_model *m = wg_autoencoder(784, code, code, code, WG_INIT_DEFAULT, cfg.seed);
    wg_optim *o = m ? wg_sgd(wg_model_params(m), (wg_sgd_opts){ .lr = cfg.lr,
                                                                .momentum = momentum })
                    : NULL;
    if (!o) {
        fprintf(stderr, "train_autoencoder: %s\n", wg_last_error());
        return 1;
    }
    if (cfg.summary)
        return ex_print_summary(m, WG_SHAPE(1, 1, 28, 28));
    printf("autoencoder 784 -> %d -> %d -> %d -> 784: %lld parameters\n", code, code, code,
           (long long)wg_params_numel(wg_model_params(m)));
    char csv[512], path[512];
    ex_path_join(csv, sizeof csv, cfg.out_dir, "metrics.csv");
    ex_trainer t = { .program = "train_autoencoder", .cfg = &cfg, .model = m, .opt = o,
                     .task = EX_RECONSTRUCT, .schedule = sched,
                     .base_lr = cfg.lr, .train = &train, .val = &val };
    rc = ex_train(&t, csv);
    ex_eval ev;
    if (rc == 0)
        rc = ex_evaluate(m, &test, EX_RECONSTRUCT, EX_EVAL_BATCH, NULL, 0, &ev);
    if (rc == 0) {
        ex_path_join(path, sizeof path, cfg.out_dir, "reconstructions.png");
        draw_reconstructions(path, m, &test);
        ex_path_join(path, sizeof path, cfg.out_dir, "curves.png");
        /* the curves' "accuracy" panel holds the PSNR for this model */
        double *tl = malloc(sizeof(double) * (size_t)(t.n_history + 1));
        double *vl = malloc(sizeof(double) * (size_t)(t.n_history + 1));
        double *tp = malloc(sizeof(double) * (size_t)(t.n_history + 1));
        double *vp = malloc(sizeof(double) * (size_t)(t.n_history + 1));
        for (int e = 0; e < t.n_history; e++) {
            tl[e] = t.history[e].train_loss;
            vl[e] = t.history[e].val_loss;
            tp[e] = t.history[e].train_acc;
            vp[e] = t.history[e].val_acc;
        }
        ex_series loss[2] = { { "training", NULL, tl, t.n_history, false, 0 },
                              { "validation", NULL, vl, t.n_history, true, 1 } };
        ex_series psnr[2] = { { "training", NULL, tp, t.n_history, false, 0 },
                              { "validation", NULL, vp, t.n_history, true, 1 } };
        ex_panel panels[2] = { { "reconstruction loss", "mean squared error", loss, 2, false, true, false },
                               { "reconstruction quality", "PSNR (dB)", psnr, 2, false, false, false } };
        if (ex_plot_panels(path, "Autoencoder on Fashion-MNIST", "epoch", panels, 2))
            fprintf(stderr, "warning: %s\n", ex_last_error());
        else
            printf("wrote %s\n", path);
        free(tl), free(vl), free(tp), free(vp);
        printf("wrote %s\n", csv);
        printf("test mse: %.5f\n", ev.loss);
        printf("test psnr: %.2f dB\n", ev.psnr);
        printf("train images/s: %.0f\n", t.train_seconds > 0 ? t.train_images / t.train_seconds : 0);
    }
    ex_trainer_free(&t);
    wg_optim_free(o);
    wg_model_free(m);
    wg_dataset_free(&test);
    wg_dataset_free(&all);
    return rc == 0 ? 0 : 1;
}
