/* train_lenet: LeNet-5 on Fashion-MNIST, the main job.
 *
 * Trains with SGD and momentum under a cosine learning-rate schedule,
 * validates on held-out training images every epoch, then reports the
 * test accuracy, the confusion matrix and the training speed, and leaves
 * metrics.csv, curves.png and confusion.png in --out. */
#include <stdlib.h>
#include <string.h>

#include "plot.h"
#include "trainer.h"

int main(int argc, char **argv)
{
    ex_config cfg = ex_config_defaults();
    cfg.epochs = 10;
    cfg.batch = 64;
    cfg.lr = 0.01;
    double momentum = 0.9;
    int n_val = 5000;
    const char *schedule = "cosine";
    const ex_option extra[] = {
        { "momentum", EX_OPT_DOUBLE, &momentum, "X", "SGD momentum", 0, 0.999 },
        { "schedule", EX_OPT_STRING, &schedule, "NAME", EX_SCHEDULE_HELP, 0, 0 },
        { "val", EX_OPT_INT, &n_val, "N", "training images held out for validation", 0, 59000 },
        { 0 },
    };
    const ex_program prog = { "train_lenet",
                              "Trains LeNet-5 on Fashion-MNIST (1x28x28 images, 10 classes) with SGD.",
                              extra, 0, NULL };
    int rc = ex_parse_args(argc, argv, &prog, &cfg);
    if (rc != EX_RUN)
        return rc;
    wg_schedule sched;
    wg_dataset all, train, val, test;
    rc = ex_start_training(&prog, &cfg, schedule, n_val, &sched, &all, &train, &val, &test);
    if (rc != 0)
        return rc;
    wg_model *model = wg_lenet5(10, WG_INIT_DEFAULT, cfg.seed);
    wg_optim *opt = model ? wg_sgd(wg_model_params(model),
                                   (wg_sgd_opts){ .lr = cfg.lr, .momentum = momentum })
                          : NULL;
    if (!opt) {
        fprintf(stderr, "train_lenet: %s\n", wg_last_error());
        return 1;
    }
    if (cfg.summary)
        return ex_print_summary(model, WG_SHAPE(1, 1, 28, 28));
    printf("LeNet-5: %lld parameters; %lld training, %lld validation, %lld test images; %s\n",
           (long long)wg_params_numel(wg_model_params(model)), (long long)train.count,
           (long long)val.count, (long long)test.count, wg_build_info());

    char csv[512];
    ex_path_join(csv, sizeof csv, cfg.out_dir, "metrics.csv");
    ex_trainer t = { .program = "train_lenet", .cfg = &cfg, .model = model, .opt = opt,
                     .task = EX_CLASSIFY, .schedule = sched, .base_lr = cfg.lr,
                     .train = &train, .val = &val };
    rc = ex_train(&t, csv);
    if (rc == 0)
        rc = ex_report_classifier(&t, &test, csv, "LeNet-5 on Fashion-MNIST",
                                  "LeNet-5, Fashion-MNIST test set");
    ex_trainer_free(&t);
    wg_optim_free(opt);
    wg_model_free(model);
    wg_dataset_free(&test);
    wg_dataset_free(&all);
    return rc == 0 ? 0 : 1;
}
