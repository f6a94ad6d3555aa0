/* train_softmax: softmax regression (one linear layer, 784 -> 10) on
 * Fashion-MNIST with SGD, and two pictures of it.
 *
 * weights.png: the 784 weights into each class drawn as a 28x28 image
 * (red: ink there is evidence for the class, blue: against it).
 *
 * With --momentum-study, momentum.png: gradient descent on a 2-D slice
 * of the loss. Two weights into one class, from two neighbouring pixels
 * (their inputs move together, so the loss has a long narrow valley along
 * w1 = -w2), are the only free parameters; all others stay at their
 * trained values. The loss over a grid of the two is drawn as contours,
 * computed on a subset of training images (full batch), and over it the
 * paths of full-batch gradient descent from one start, without momentum
 * and with two momentum values, updating only those two weights by hand
 * from the gradients the tape computes (v = mu v + g; w -= lr v, as
 * PyTorch's SGD). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"
#include "trainer.h"

static int draw_weights(const char *path, wg_model *m, double test_acc)
{
    const wg_tensor *w = wg_params_find(wg_model_params(m), "fc.weight");
    char title[160];
    snprintf(title, sizeof title, "Softmax regression on Fashion-MNIST: the weights into each "
             "class (test accuracy %.1f%%)", 100 * test_acc);
    ex_grid_style st = { .title = title,
                         .subtitle = "each tile: the 784 weights from the pixels to one class's "
                                     "score; red: ink there counts for the class, blue: against",
                         .cols = 5, .colormap = EX_CMAP_DIVERGING, .scaling = EX_SCALE_TILE,
                         .captions = (const char *const *)ex_fashion_classes, .tile_pixels = 150,
                         .bar_label = "weight (each tile scaled to its own largest |weight|)" };
    if (ex_plot_image_grid(path, wg_data(w), 10, 28, 28, &st) != 0) {
        fprintf(stderr, "warning: %s\n", ex_last_error());
        return -1;
    }
    printf("wrote %s\n", path);
    return 0;
}

/* The loss on the subset (x, y, n images) and, if g is not NULL, the
 * gradient with respect to the two chosen weights w[i0], w[i1]. */
static double slice_loss(wg_model *m, wg_tape *tape, const wg_real *x, const int32_t *y, int n,
                         int64_t i0, int64_t i1, double g[2])
{
    wg_tape_set_grad(tape, g != NULL);
    wg_tensor *out = wg_model_forward(m, tape, wg_input(tape, x, WG_SHAPE(n, 1, 28, 28)));
    wg_tensor *l = wg_softmax_cross_entropy(tape, out, y);
    double v = (double)wg_item(l);
    if (g) {
        wg_params_zero_grad(wg_model_params(m));
        wg_backward(tape, l);
        const wg_real *gw = wg_grad(wg_params_find(wg_model_params(m), "fc.weight"));
        g[0] = gw[i0];
        g[1] = gw[i1];
    }
    wg_tape_reset(tape);
    return v;
}

static int momentum_study(const ex_config *cfg, wg_model *m, const wg_dataset *train, int cls,
                          int subset, int steps)
{
    const int n = (int)(subset < train->count ? subset : train->count);
    const int row = 14, col = 13; /* two horizontal neighbours in the middle of the image */
    const int64_t i0 = (int64_t)cls * 784 + row * 28 + col, i1 = i0 + 1;
    wg_real *x = malloc(sizeof(wg_real) * (size_t)n * 784);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)n);
    wg_tape *tape = wg_tape_new();
    if (!x || !y || !tape) {
        free(x), free(y), wg_tape_free(tape);
        fprintf(stderr, "train_softmax: out of memory\n");
        return -1;
    }
    wg_dataset_batch(train, NULL, n, x, y);
    wg_real *w = wg_data(wg_params_find(wg_model_params(m), "fc.weight"));
    const double a = w[i0], b = w[i1];

    /* the curvature at the trained point, from differences of gradients:
     * sets the step size (1 / largest eigenvalue) and the picture's size */
    double g0[2], ga[2], gb[2], h = 0.05;
    slice_loss(m, tape, x, y, n, i0, i1, g0);
    w[i0] = (wg_real)(a + h);
    slice_loss(m, tape, x, y, n, i0, i1, ga);
    w[i0] = (wg_real)a, w[i1] = (wg_real)(b + h);
    slice_loss(m, tape, x, y, n, i0, i1, gb);
    w[i1] = (wg_real)b;
    double H00 = (ga[0] - g0[0]) / h, H11 = (gb[1] - g0[1]) / h;
    double H01 = 0.5 * ((ga[1] - g0[1]) / h + (gb[0] - g0[0]) / h);
    double tr = H00 + H11, det = H00 * H11 - H01 * H01;
    double disc = sqrt(fmax(tr * tr / 4 - det, 0));
    double lmax = tr / 2 + disc, lmin = fmax(tr / 2 - disc, 1e-12);
    /* beyond 1 / lmax the steps overshoot across the valley and zigzag,
     * as plain gradient descent does in a narrow valley */
    double lr = 1.2 / lmax;
    printf("momentum study: class %s, pixels (%d,%d) and (%d,%d); trained weights %.4f, %.4f; "
           "curvature %.3g and %.3g (condition %.0f); step size %.4g; %d images\n",
           ex_fashion_classes[cls], row, col, row, col + 1, a, b, lmax, lmin, lmax / lmin, lr, n);

    /* start: in the curvature's own axes, far along the valley (the flat
     * direction) and a little across it, each worth a loss rise of ~0.1 */
    double ex = H01, ey = lmax - H00, en = hypot(ex, ey);
    if (en < 1e-12)
        ex = 1, ey = 0, en = 1;
    ex /= en, ey /= en; /* steep direction; the flat one is (-ey, ex) */
    double across = sqrt(2 * 0.1 / lmax), along = sqrt(2 * 0.1 / lmin);
    double sx = a + across * ex - along * ey, sy = b + across * ey + along * ex;
    const double mus[3] = { 0, 0.5, 0.9 };
    double *px[3], *py[3];
    int rc = 0;
    for (int k = 0; k < 3; k++) {
        px[k] = malloc(sizeof(double) * (size_t)(steps + 1));
        py[k] = malloc(sizeof(double) * (size_t)(steps + 1));
        double u0 = sx, u1 = sy, v0 = 0, v1 = 0, g[2];
        for (int s = 0; s <= steps; s++) {
            px[k][s] = u0, py[k][s] = u1;
            if (s == steps)
                break;
            w[i0] = (wg_real)u0, w[i1] = (wg_real)u1;
            slice_loss(m, tape, x, y, n, i0, i1, g);
            v0 = mus[k] * v0 + g[0], v1 = mus[k] * v1 + g[1];
            u0 -= lr * v0, u1 -= lr * v1;
        }
        w[i0] = (wg_real)u0, w[i1] = (wg_real)u1;
        double fin = slice_loss(m, tape, x, y, n, i0, i1, NULL);
        printf("momentum %.1f: after %d steps at (%.4f, %.4f), loss %.5f\n", mus[k], steps, u0,
               u1, fin);
    }
    /* the grid, centred on the trained point, wide enough for the paths */
    double xlo = a, xhi = a, ylo = b, yhi = b;
    for (int k = 0; k < 3; k++)
        for (int s = 0; s <= steps; s++) {
            xlo = fmin(xlo, px[k][s]), xhi = fmax(xhi, px[k][s]);
            ylo = fmin(ylo, py[k][s]), yhi = fmax(yhi, py[k][s]);
        }
    double rx = fmax(a - xlo, xhi - a) * 1.15, ry = fmax(b - ylo, yhi - b) * 1.15;
    enum { G = 41 };
    double *z = malloc(sizeof(double) * G * G);
    for (int j = 0; j < G && z; j++)
        for (int i = 0; i < G; i++) {
            w[i0] = (wg_real)(a - rx + 2 * rx * i / (G - 1));
            w[i1] = (wg_real)(b - ry + 2 * ry * j / (G - 1));
            z[j * G + i] = slice_loss(m, tape, x, y, n, i0, i1, NULL);
        }
    w[i0] = (wg_real)a, w[i1] = (wg_real)b;
    char names[3][64], title[400], xl[96], yl[96], path[512];
    ex_path paths[3];
    for (int k = 0; k < 3; k++) {
        snprintf(names[k], sizeof names[k], mus[k] > 0 ? "momentum %.1f" : "no momentum",
                 mus[k]);
        paths[k] = (ex_path){ names[k], px[k], py[k], steps + 1, k == 0 ? 0 : k == 1 ? 2 : 3 };
    }
    snprintf(title, sizeof title, "Gradient descent with and without momentum on a 2-D slice "
             "of the softmax-regression loss\n%d full-batch steps of size %.3g from the circle to "
             "the cross; two weights free,\nthe other 7,848 parameters fixed at their trained "
             "values; loss on %d training images", steps, lr, n);
    snprintf(xl, sizeof xl, "weight from pixel (%d,%d) to %s", row, col, ex_fashion_classes[cls]);
    snprintf(yl, sizeof yl, "weight from pixel (%d,%d) to %s", row, col + 1,
             ex_fashion_classes[cls]);
    ex_path_join(path, sizeof path, cfg->out_dir, "momentum.png");
    if (z && ex_plot_contour_paths(path, title, xl, yl, "cross-entropy on the subset", z, G, G,
                                   a - rx, a + rx, b - ry, b + ry, 14, paths, 3) != 0) {
        fprintf(stderr, "warning: %s\n", ex_last_error());
        rc = 0; /* a missing picture is a warning */
    } else if (z) {
        printf("wrote %s\n", path);
    }
    for (int k = 0; k < 3; k++)
        free(px[k]), free(py[k]);
    free(z), free(x), free(y);
    wg_tape_free(tape);
    return rc;
}

int main(int argc, char **argv)
{
    ex_config cfg = ex_config_defaults();
    cfg.epochs = 5;
    cfg.batch = 64;
    cfg.lr = 0.1;
    int n_val = 5000, subset = 2000, steps = 40, cls = 0;
    bool study = false;
    const char *schedule = "cosine";
    const ex_option extra[] = {
        { "schedule", EX_OPT_STRING, &schedule, "NAME", EX_SCHEDULE_HELP, 0, 0 },
        { "val", EX_OPT_INT, &n_val, "N", "training images held out for validation", 0, 59000 },
        { "momentum-study", EX_OPT_FLAG, &study, NULL, "after training, draw gradient descent with "
          "and without momentum on a 2-D slice of the loss (momentum.png)", 0, 0 },
        { "class", EX_OPT_INT, &cls, "K", "momentum study: the class whose two weights move", 0, 9 },
        { "subset", EX_OPT_INT, &subset, "N", "momentum study: training images in the loss", 1, 60000 },
        { "steps", EX_OPT_INT, &steps, "N", "momentum study: gradient-descent steps", 1, 10000 },
        { 0 },
    };
    const ex_program prog = { "train_softmax",
                              "Trains softmax regression (784 -> 10) on Fashion-MNIST with SGD and "
                              "draws its weights as images.",
                              extra, 0, NULL };
    int rc = ex_parse_args(argc, argv, &prog, &cfg);
    if (rc != EX_RUN)
        return rc;
    wg_schedule sched;
    wg_dataset all, train, val, test;
    rc = ex_start_training(&prog, &cfg, schedule, n_val, &sched, &all, &train, &val, &test);
    if (rc != 0)
        return rc;
    wg_model *m = wg_softmax_regression(784, 10, WG_INIT_DEFAULT, cfg.seed);
    wg_optim *o = m ? wg_sgd(wg_model_params(m), (wg_sgd_opts){ .lr = cfg.lr }) : NULL;
    if (!o) {
        fprintf(stderr, "train_softmax: %s\n", wg_last_error());
        return 1;
    }
    if (cfg.summary)
        return ex_print_summary(m, WG_SHAPE(1, 1, 28, 28));
    printf("softmax regression 784 -> 10; %lld training, %lld validation, %lld test images\n",
           (long long)train.count, (long long)val.count, (long long)test.count);
    char csv[512], path[512];
    ex_path_join(csv, sizeof csv, cfg.out_dir, "metrics.csv");
    ex_trainer t = { .program = "train_softmax", .cfg = &cfg, .model = m, .opt = o,
                     .task = EX_CLASSIFY, .schedule = sched, .base_lr = cfg.lr,
                     .train = &train, .val = &val };
    ex_eval ev;
    rc = ex_train(&t, csv);
    if (rc == 0)
        rc = ex_evaluate(m, &test, EX_CLASSIFY, EX_EVAL_BATCH, NULL, 0, &ev);
    if (rc == 0) {
        ex_path_join(path, sizeof path, cfg.out_dir, "weights.png");
        draw_weights(path, m, ev.acc);
        ex_path_join(path, sizeof path, cfg.out_dir, "curves.png");
        if (ex_plot_learning_curves(path, "Softmax regression on Fashion-MNIST", t.history,
                                    t.n_history) == 0)
            printf("wrote %s\n", path);
        printf("wrote %s\n", csv);
        printf("test accuracy: %.4f\n", ev.acc);
        if (study)
            rc = momentum_study(&cfg, m, &train, cls, subset, steps);
    }
    ex_trainer_free(&t);
    wg_optim_free(o);
    wg_model_free(m);
    wg_dataset_free(&test);
    wg_dataset_free(&all);
    return rc == 0 ? 0 : 1;
}
