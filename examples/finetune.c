/* finetune: "fine-tune a pretrained network or train from scratch?" on
 * data we have.
 *
 * 1. Pretrain LeNet-5 (10 outputs) on Fashion-MNIST classes 0-4 (T-shirt,
 *    trouser, pullover, dress, coat), or take --pretrained FILE (any LeNet
 *    checkpoint, e.g. one converted from PyTorch by tools/torch2h5.py).
 * 2. Load it non-strictly into a LeNet-5 with a 5-way head for classes
 *    5-9 (sandal, shirt, sneaker, bag, ankle boot): every layer but fc3
 *    matches and is loaded; fc3 keeps its fresh initialisation.
 * 3. Train it on a small labelled subset (--per-class images per class),
 *    with the convolution layers frozen unless --no-freeze.
 * 4. Train the same model from scratch on the same subset.
 * Both runs are evaluated on all test images of classes 5-9 after every
 * epoch; finetune.csv and finetune.png hold the two curves. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"
#include "trainer.h"

/* A copy of the images of d whose label is in [lo, lo + n), relabelled
 * from 0, at most `per_class` of each (0: all), in file order. */
static int subset(const wg_dataset *d, int lo, int n, int per_class, wg_dataset *out)
{
    int64_t want = 0, taken[100] = { 0 };
    for (int64_t i = 0; i < d->count; i++) {
        int c = d->labels[i] - lo;
        if (c >= 0 && c < n && (per_class == 0 || taken[c] < per_class)) {
            taken[c]++;
            want++;
        }
    }
    const int64_t px = (int64_t)d->channels * d->rows * d->cols;
    *out = (wg_dataset){ .count = want, .channels = d->channels, .rows = d->rows, .cols = d->cols,
                         .images = malloc((size_t)(want * px)),
                         .labels = malloc(sizeof(int32_t) * (size_t)want), .classes = n,
                         .owned = false };
    if (!out->images || !out->labels)
        return -1;
    memset(taken, 0, sizeof taken);
    int64_t k = 0;
    for (int64_t i = 0; i < d->count; i++) {
        int c = d->labels[i] - lo;
        if (c >= 0 && c < n && (per_class == 0 || taken[c] < per_class)) {
            taken[c]++;
            memcpy(out->images + k * px, d->images + i * px, (size_t)px);
            out->labels[k++] = c;
        }
    }
    return 0;
}

static void subset_free(wg_dataset *d)
{
    free(d->images);
    free(d->labels);
}

/* Trains `m` on `train`, evaluating on `test` after each epoch. */
static int fit(const char *name, wg_model *m, const ex_config *cfg, double lr,
               const wg_dataset *train, const wg_dataset *test, const char *save, ex_trainer *t)
{
    wg_optim *o = wg_sgd(wg_model_params(m), (wg_sgd_opts){ .lr = lr, .momentum = 0.9 });
    if (!o) {
        fprintf(stderr, "finetune: %s\n", wg_last_error());
        return -1;
    }
    ex_config c = *cfg;
    c.save_path = save;
    c.resume_path = NULL;
    fprintf(stderr, "--- %s\n", name);
    *t = (ex_trainer){ .program = "finetune", .cfg = &c, .model = m, .opt = o,
                       .task = EX_CLASSIFY, .schedule = { .kind = WG_SCHED_CONSTANT },
                       .base_lr = lr, .train = train, .val = test };
    int rc = ex_train(t, NULL);
    wg_optim_free(o);
    return rc;
}

int main(int argc, char **argv)
{
    ex_config cfg = ex_config_defaults();
    cfg.epochs = 15;
    cfg.batch = 25;
    cfg.lr = 0.01;
    int per_class = 50, pre_epochs = 3;
    bool no_freeze = false;
    const char *pretrained = NULL;
    const ex_option extra[] = {
        { "per-class", EX_OPT_INT, &per_class, "N", "labelled training images per new class", 1, 6000 },
        { "pretrain-epochs", EX_OPT_INT, &pre_epochs, "N", "epochs of pretraining on classes 0-4", 1, 100 },
        { "pretrained", EX_OPT_STRING, &pretrained, "FILE", "a LeNet-5 checkpoint to start from instead of pretraining", 0, 0 },
        { "no-freeze", EX_OPT_FLAG, &no_freeze, NULL, "also train the convolution layers when fine-tuning", 0, 0 },
        { 0 },
    };
    const ex_program prog = { "finetune",
                              "Fine-tunes a LeNet-5 pretrained on classes 0-4 to classes 5-9 from "
                              "a few labelled images, against training from scratch.",
                              extra, EX_HIDE_CHECKPOINT, NULL };
    int rc = ex_parse_args(argc, argv, &prog, &cfg);
    if (rc != EX_RUN)
        return rc;
    if (cfg.summary) /* the model fine-tuned below (built here: pretraining would come first) */
        return ex_print_summary(wg_lenet5(5, WG_INIT_DEFAULT, cfg.seed + 1), WG_SHAPE(1, 1, 28, 28));
    ex_apply_threads(&cfg);
    wg_dataset all = { 0 }, test = { 0 }, old_train = { 0 }, new_train = { 0 }, new_test = { 0 };
    if (wg_mnist_load(cfg.data_dir, true, &all) != WG_OK ||
        wg_mnist_load(cfg.data_dir, false, &test) != WG_OK) {
        fprintf(stderr, "finetune: %s\n", wg_last_error());
        wg_dataset_free(&all);
        return 1;
    }
    /* after the data: a run that cannot start leaves nothing behind */
    if (ex_mkdir_p(cfg.out_dir) != 0) {
        fprintf(stderr, "finetune: %s\n", ex_last_error());
        wg_dataset_free(&all);
        wg_dataset_free(&test);
        return 1;
    }
    if (cfg.limit > 0) { /* --limit: the first N training and test images */
        if (all.count > cfg.limit)
            all.count = cfg.limit;
        if (test.count > cfg.limit)
            test.count = cfg.limit;
    }
    char ckpt[512], path[512], csv_path[512];
    ex_path_join(ckpt, sizeof ckpt, cfg.out_dir, "pretrained.h5");
    if (subset(&all, 5, 5, per_class, &new_train) || subset(&test, 5, 5, 0, &new_test)) {
        fprintf(stderr, "finetune: out of memory\n");
        return 1;
    }
    ex_trainer pre = { 0 }, ft = { 0 }, sc = { 0 };
    if (!pretrained) {
        /* 1. pretraining on the old classes, with all ten outputs as a
         *    checkpoint from elsewhere would have */
        if (subset(&all, 0, 5, 0, &old_train)) {
            fprintf(stderr, "finetune: out of memory\n");
            return 1;
        }
        wg_model *base = wg_lenet5(10, WG_INIT_DEFAULT, cfg.seed);
        ex_config pc = cfg;
        pc.epochs = pre_epochs;
        pc.batch = 64;
        rc = fit("pretraining on classes 0-4", base, &pc, 0.01, &old_train, NULL, ckpt, &pre);
        wg_model_free(base);
        subset_free(&old_train);
        pretrained = ckpt;
        if (rc != 0)
            return 1;
    }
    /* 2. the new model: every layer but the head comes from the checkpoint */
    wg_model *tuned = wg_lenet5(5, WG_INIT_DEFAULT, cfg.seed + 1);
    wg_load_report rep;
    if (wg_checkpoint_load(pretrained, tuned, NULL, NULL, false, &rep) != WG_OK) {
        fprintf(stderr, "finetune: %s\n", wg_last_error());
        return 1;
    }
    printf("loaded %d parameters from %s; not loaded: %s\n", rep.loaded, pretrained, rep.detail);
    if (!no_freeze)
        printf("frozen: %d parameters (conv1, conv2)\n",
               wg_params_freeze(wg_model_params(tuned), "conv", true));
    /* 3. and 4. the same data, the same schedule, from the checkpoint and from scratch */
    rc = fit("fine-tuning", tuned, &cfg, cfg.lr, &new_train, &new_test, NULL, &ft);
    wg_model *scratch = wg_lenet5(5, WG_INIT_DEFAULT, cfg.seed + 1);
    if (rc == 0)
        rc = fit("from scratch", scratch, &cfg, cfg.lr, &new_train, &new_test, NULL, &sc);
    if (rc == 0) {
        int n = ft.n_history < sc.n_history ? ft.n_history : sc.n_history;
        ex_path_join(csv_path, sizeof csv_path, cfg.out_dir, "finetune.csv");
        ex_csv *csv = ex_csv_open(csv_path, "epoch,finetuned_test_acc,scratch_test_acc");
        double *a = malloc(sizeof(double) * (size_t)(n + 1));
        double *b = malloc(sizeof(double) * (size_t)(n + 1));
        printf("\nepoch  fine-tuned  from scratch   (test accuracy on classes 5-9, %lld images)\n",
               (long long)new_test.count);
        for (int e = 0; e < n; e++) {
            a[e] = ft.history[e].val_acc;
            b[e] = sc.history[e].val_acc;
            double row[3] = { e + 1, a[e], b[e] };
            if (csv)
                ex_csv_row(csv, row, 3);
            printf("%5d  %10.4f  %12.4f\n", e + 1, a[e], b[e]);
        }
        ex_csv_close(csv);
        char la[96], lb[96], title[160];
        snprintf(la, sizeof la, "fine-tuned from classes 0-4 (final %.1f%%)", 100 * a[n - 1]);
        snprintf(lb, sizeof lb, "from scratch (final %.1f%%)", 100 * b[n - 1]);
        ex_series s[2] = { { la, NULL, a, n, false, 2 }, { lb, NULL, b, n, true, 7 } };
        ex_panel p = { NULL, "test accuracy (%), classes 5-9", s, 2, true, false, false };
        snprintf(title, sizeof title, "LeNet-5 on 5 new classes from %d labelled images each",
                 per_class);
        ex_path_join(path, sizeof path, cfg.out_dir, "finetune.png");
        if (ex_plot_panels(path, title, "epoch", &p, 1) != 0)
            fprintf(stderr, "warning: %s\n", ex_last_error());
        else
            printf("wrote %s\n", path);
        printf("wrote %s\n", csv_path);
        printf("fine-tuned test accuracy: %.4f\n", a[n - 1]);
        printf("scratch test accuracy: %.4f\n", b[n - 1]);
        printf("test accuracy: %.4f\n", a[n - 1]);
        double secs = pre.train_seconds + ft.train_seconds + sc.train_seconds;
        double imgs = (double)(pre.train_images + ft.train_images + sc.train_images);
        printf("train images/s: %.0f\n", secs > 0 ? imgs / secs : 0);
        free(a);
        free(b);
    }
    ex_trainer_free(&pre);
    ex_trainer_free(&ft);
    ex_trainer_free(&sc);
    wg_model_free(tuned);
    wg_model_free(scratch);
    subset_free(&new_train);
    subset_free(&new_test);
    wg_dataset_free(&test);
    wg_dataset_free(&all);
    return rc == 0 ? 0 : 1;
}
