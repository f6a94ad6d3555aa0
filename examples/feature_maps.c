/* feature_maps: what LeNet-5's first layer makes of one image.
 *
 * Runs the forward pass on one Fashion-MNIST test image and fetches the
 * activations by name from the tape, without touching the model's code:
 * "conv1" (the six convolution outputs, before the activation) and
 * "conv1.tanh" (after it), what a PyTorch forward hook on those modules
 * would see. Draws them next to the image as feature_maps.png in --out,
 * and the six learned 5x5 conv1 filters themselves as conv1_filters.png.
 * Uses the weights of --checkpoint (by default train_lenet's), or fresh
 * ones if there is none. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plot.h"
#include "trainer.h"

int main(int argc, char **argv)
{
    ex_config cfg = ex_config_defaults();
    const char *ckpt = "results/train_lenet/checkpoint.h5";
    int index = 0;
    const ex_option extra[] = {
        { "checkpoint", EX_OPT_STRING, &ckpt, "FILE", "LeNet-5 weights (fresh ones if the file is missing)", 0, 0 },
        { "image", EX_OPT_INT, &index, "N", "index of the test image", 0, 9999 },
        { 0 },
    };
    const ex_program prog = { "feature_maps",
                              "Draws LeNet-5's conv1 feature maps of one test image, fetched from "
                              "the tape by name.",
                              extra, EX_HIDE_TRAINING | EX_HIDE_BATCH | EX_HIDE_THREADS, NULL };
    int rc = ex_parse_args(argc, argv, &prog, &cfg);
    if (rc != EX_RUN)
        return rc;
    wg_dataset test;
    if (wg_mnist_load(cfg.data_dir, false, &test) != WG_OK) {
        fprintf(stderr, "feature_maps: %s\n", wg_last_error());
        return 1;
    }
    if (index >= test.count) {
        fprintf(stderr, "feature_maps: --image %d: the test set has %lld images\n", index,
                (long long)test.count);
        wg_dataset_free(&test);
        return 2;
    }
    /* after the data: a run that cannot start leaves nothing behind */
    if (ex_mkdir_p(cfg.out_dir) != 0) {
        fprintf(stderr, "feature_maps: %s\n", ex_last_error());
        wg_dataset_free(&test);
        return 1;
    }
    bool trained = access(ckpt, R_OK) == 0;
    wg_model *m = trained ? wg_checkpoint_load_model(ckpt) : wg_lenet5(10, WG_INIT_DEFAULT, cfg.seed);
    if (!m || strcmp(wg_model_kind(m), "lenet5") != 0) {
        fprintf(stderr, "feature_maps: %s\n", m ? "the checkpoint is not a LeNet-5" : wg_last_error());
        return 1;
    }
    if (!trained)
        fprintf(stderr, "feature_maps: no %s: drawing with untrained weights (run "
                "examples/train_lenet first)\n", ckpt);

    int32_t label;
    wg_real image[784];
    const int64_t idx = index;
    wg_dataset_batch(&test, &idx, 1, image, &label);
    wg_tape *tape = wg_tape_new();
    wg_model_set_training(m, false);
    wg_tensor *logits = wg_model_forward(m, tape, wg_input(tape, image, WG_SHAPE(1, 1, 28, 28)));
    /* the layer outputs, by the names the layers gave them */
    const wg_tensor *conv = wg_tape_find(tape, "conv1"), *act = wg_tape_find(tape, "conv1.tanh");
    if (wg_tape_status(tape) != WG_OK || !conv || !act) {
        fprintf(stderr, "feature_maps: %s\n", wg_tape_status(tape) != WG_OK ? wg_tape_error(tape)
                : "conv1 is not on the tape");
        return 1;
    }
    int pred = ex_argmax(wg_data(logits), 10);

    /* two rows of seven 28 x 28 tiles: the image, then the six channels */
    wg_real tiles[14 * 784];
    const char *captions[14];
    char cap[14][32];
    for (int r = 0; r < 2; r++) {
        const wg_tensor *maps = r == 0 ? conv : act;
        memcpy(tiles + (r * 7) * 784, image, sizeof image);
        captions[r * 7] = "input";
        for (int c = 0; c < 6; c++) {
            memcpy(tiles + (r * 7 + 1 + c) * 784, wg_data(maps) + c * 784, 784 * sizeof(wg_real));
            snprintf(cap[r * 7 + 1 + c], sizeof cap[0], "channel %d", c);
            captions[r * 7 + 1 + c] = cap[r * 7 + 1 + c];
        }
    }
    const char *rows[2] = { "conv1", "conv1.tanh" };
    char title[160], path[512];
    snprintf(title, sizeof title, "LeNet-5 conv1 feature maps of test image %d (%s, predicted %s)%s",
             index, ex_fashion_classes[label], ex_fashion_classes[pred],
             trained ? "" : ", untrained");
    ex_grid_style st = { .title = title,
                         .subtitle = "rows: the tensors named conv1 (before tanh) and conv1.tanh, "
                                     "fetched with wg_tape_find()",
                         .cols = 7, .colormap = EX_CMAP_GRAY, .scaling = EX_SCALE_TILE,
                         .captions = captions, .row_labels = rows,
                         .bar_label = "each tile from its min (black) to its max (white)" };
    ex_path_join(path, sizeof path, cfg.out_dir, "feature_maps.png");
    if (ex_plot_image_grid(path, tiles, 14, 28, 28, &st) != 0) {
        fprintf(stderr, "feature_maps: %s\n", ex_last_error());
        rc = 1;
    } else {
        printf("wrote %s\n", path);
        rc = 0;
    }
    /* the filters that made those maps: conv1.weight [6 x 1 x 5 x 5] */
    const wg_tensor *w = wg_params_find(wg_model_params(m), "conv1.weight");
    if (w) {
        const char *fcap[6];
        char fc[6][32];
        for (int c = 0; c < 6; c++) {
            snprintf(fc[c], sizeof fc[0], "channel %d", c);
            fcap[c] = fc[c];
        }
        snprintf(title, sizeof title, "LeNet-5 conv1 filters (6 of 5x5)%s",
                 trained ? ", learned on Fashion-MNIST" : ", untrained");
        ex_grid_style fs = { .title = title,
                             .subtitle = "each tile: the 25 weights a channel multiplies a 5x5 "
                                         "patch of the image by; red positive, blue negative",
                             .cols = 6, .colormap = EX_CMAP_DIVERGING, .scaling = EX_SCALE_ALL,
                             .captions = fcap, .tile_pixels = 120, .bar_label = "weight" };
        ex_path_join(path, sizeof path, cfg.out_dir, "conv1_filters.png");
        if (ex_plot_image_grid(path, wg_data(w), 6, 5, 5, &fs) != 0) {
            fprintf(stderr, "feature_maps: %s\n", ex_last_error());
            rc = 1;
        } else {
            printf("wrote %s\n", path);
        }
    }
    wg_tape_free(tape);
    wg_model_free(m);
    wg_dataset_free(&test);
    return rc;
}
