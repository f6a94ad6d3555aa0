/* draw_tape: LeNet-5's training step as a picture.
 *
 * Records one training step (forward, loss, backward) on a batch of
 * Fashion-MNIST training images and writes the tape as a Graphviz DOT
 * file, with the gradient norms the backward pass left, then prints the
 * command that renders it (docs/inspect.md shows the result):
 *
 *     ./examples/draw_tape && dot -Tpng results/draw_tape/lenet_step.dot \
 *         -o results/draw_tape/lenet_step.png
 *
 * Without the data set it draws the same step on random pixels. */
#include <stdlib.h>
#include <string.h>

#include "trainer.h"

int main(int argc, char **argv)
{
    ex_config cfg = ex_config_defaults();
    cfg.batch = 64;
    bool no_grads = false;
    const ex_option extra[] = {
        { "no-grad-norms", EX_OPT_FLAG, &no_grads, NULL, "leave the gradient norms out", 0, 0 },
        { 0 },
    };
    const ex_program prog = { "draw_tape",
                              "Writes LeNet-5's training step on one batch as a Graphviz DOT "
                              "graph (lenet_step.dot in --out).",
                              extra, EX_HIDE_TRAINING | EX_HIDE_THREADS, NULL };
    int rc = ex_parse_args(argc, argv, &prog, &cfg);
    if (rc != EX_RUN)
        return rc;
    if (ex_mkdir_p(cfg.out_dir) != 0) {
        fprintf(stderr, "draw_tape: %s\n", ex_last_error());
        return 1;
    }
    const int n = cfg.batch;
    wg_real *x = malloc(sizeof(wg_real) * (size_t)n * 784);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)n);
    if (!x || !y) {
        fprintf(stderr, "draw_tape: out of memory\n");
        return 1;
    }
    wg_dataset d;
    if (wg_mnist_load(cfg.data_dir, true, &d) == WG_OK) {
        wg_dataset_batch(&d, NULL, n, x, y); /* the first n images */
        wg_dataset_free(&d);
    } else {
        fprintf(stderr, "draw_tape: %s; drawing the step on random pixels\n", wg_last_error());
        wg_rng r = wg_rng_seed(cfg.seed);
        for (int64_t i = 0; i < (int64_t)n * 784; i++)
            x[i] = (wg_real)wg_rng_uniform(&r);
        for (int i = 0; i < n; i++)
            y[i] = (int32_t)wg_rng_below(&r, 10);
    }

    wg_model *model = wg_lenet5(10, WG_INIT_DEFAULT, cfg.seed);
    wg_tape *tape = wg_tape_new();
    if (!model || !tape) {
        fprintf(stderr, "draw_tape: %s\n", wg_last_error());
        return 1;
    }
    /* the training step, as ex_train runs it, up to the optimizer */
    wg_tensor *logits = wg_model_forward(model, tape, wg_input(tape, x, WG_SHAPE(n, 1, 28, 28)));
    wg_tensor *loss = wg_softmax_cross_entropy(tape, logits, y);
    if (wg_backward(tape, loss) != WG_OK) {
        fprintf(stderr, "draw_tape: %s\n", wg_tape_error(tape));
        return 1;
    }
    char path[512], title[128];
    ex_path_join(path, sizeof path, cfg.out_dir, "lenet_step.dot");
    snprintf(title, sizeof title, "LeNet-5: one training step, batch %d, loss %.4f", n,
             (double)wg_item(loss));
    if (wg_tape_to_dot(tape, path, title, !no_grads) != WG_OK) {
        fprintf(stderr, "draw_tape: %s\n", wg_last_error());
        rc = 1;
    } else {
        printf("%d ops recorded; wrote %s\n", wg_tape_size(tape), path);
        printf("render it with Graphviz: dot -Tpng %s -o %.*s.png\n", path,
               (int)strlen(path) - 4, path);
        ex_print_memory(stdout, model, NULL, tape);
        rc = 0;
    }
    wg_tape_free(tape);
    wg_model_free(model);
    free(x);
    free(y);
    return rc;
}
