/* evaluate: runs a checkpoint on the Fashion-MNIST (or any MNIST-format)
 * test set.
 *
 *   evaluate CHECKPOINT [--data DIR] [--logits FILE] [--threads N]
 *
 * The model is rebuilt from the architecture the checkpoint records, so a
 * LeNet-5, MLP or softmax regression trained here, or converted from
 * PyTorch by tools/torch2h5.py, evaluates the same way. Prints
 * "accuracy: 0.xxxx" (an autoencoder: "psnr: X.XX dB") and the confusion
 * matrix; --logits writes one CSV row of logits per test image, in file
 * order, printed with %.9g. */
#include <string.h>

#include "trainer.h"

static int write_logits(const char *path, wg_model *m, const wg_dataset *test)
{
    FILE *f = fopen(ex_writes_files() ? path : "/dev/null", "w"); /* rank 0 writes it */
    if (!f) {
        fprintf(stderr, "evaluate: cannot write %s\n", path);
        return -1;
    }
    enum { B = 500 };
    static wg_real x[B * 784];
    int64_t idx[B];
    wg_tape *t = wg_tape_new();
    wg_tape_set_grad(t, false);
    int rc = 0;
    for (int64_t s = 0; s < test->count && rc == 0; s += B) {
        int n = (int)(test->count - s < B ? test->count - s : B);
        for (int i = 0; i < n; i++)
            idx[i] = s + i;
        wg_dataset_batch(test, idx, n, x, NULL);
        wg_tensor *out = wg_model_forward(m, t, wg_input(t, x, WG_SHAPE(n, 1, 28, 28)));
        if (wg_tape_status(t) != WG_OK) {
            fprintf(stderr, "evaluate: %s\n", wg_tape_error(t));
            rc = -1;
            break;
        }
        int c = (int)wg_dim(out, 1);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < c; k++)
                fprintf(f, k + 1 < c ? "%.9g," : "%.9g\n", (double)wg_data(out)[(int64_t)i * c + k]);
        wg_tape_reset(t);
    }
    wg_tape_free(t);
    if (fclose(f) != 0 && rc == 0) {
        fprintf(stderr, "evaluate: error writing %s\n", path);
        rc = -1;
    }
    return rc;
}

int main(int argc, char **argv)
{
    ex_config cfg = ex_config_defaults();
    const char *logits = NULL, *ckpt = NULL;
    const ex_option extra[] = {
        { "logits", EX_OPT_STRING, &logits, "FILE", "write the logits as CSV, one row per test image", 0, 0 },
        { 0 },
    };
    const ex_program prog = { "evaluate",
                              "Evaluates a checkpoint on the test set of an MNIST-format directory.",
                              extra, EX_HIDE_TRAINING | EX_HIDE_BATCH | EX_HIDE_SEED | EX_HIDE_OUT,
                              "CHECKPOINT" };
    /* the checkpoint is the one positional argument, first */
    if (argc > 1 && argv[1][0] != '-') {
        ckpt = argv[1];
        argv[1] = argv[0];
        argc--, argv++;
    }
    int rc = ex_parse_args(argc, argv, &prog, &cfg);
    if (rc != EX_RUN)
        return rc;
    if (!ckpt)
        return ex_usage_error(&prog, &cfg, "missing CHECKPOINT");
    ex_apply_threads(&cfg);
    wg_model *m = wg_checkpoint_load_model(ckpt);
    if (!m) {
        fprintf(stderr, "evaluate: %s\n", wg_last_error());
        return 1;
    }
    wg_dataset test;
    if (wg_mnist_load(cfg.data_dir, false, &test) != WG_OK) {
        fprintf(stderr, "evaluate: %s\n", wg_last_error());
        wg_model_free(m);
        return 1;
    }
    if (cfg.limit > 0 && test.count > cfg.limit)
        test.count = cfg.limit; /* --limit: the first N test images */
    bool recon = strcmp(wg_model_kind(m), "autoencoder") == 0;
    int confusion[100 * 100];
    int k = test.classes > 0 && test.classes <= 100 ? test.classes : 10;
    ex_eval ev;
    rc = ex_evaluate(m, &test, recon ? EX_RECONSTRUCT : EX_CLASSIFY, EX_EVAL_BATCH, recon ? NULL : confusion,
                     k, &ev);
    if (rc == 0 && logits)
        rc = write_logits(logits, m, &test);
    if (rc == 0) {
        printf("%s: %s, %lld test images\n", ckpt, wg_model_arch_json(m), (long long)test.count);
        if (recon) {
            printf("psnr: %.2f dB\n", ev.psnr);
        } else {
            ex_print_confusion(stdout, confusion, k, k == 10 ? ex_fashion_classes : NULL);
            printf("accuracy: %.4f\n", ev.acc);
        }
    }
    wg_dataset_free(&test);
    wg_model_free(m);
    return rc == 0 ? 0 : 1;
}
