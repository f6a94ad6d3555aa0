/* Per-op time of one LeNet-5 training step (batch 64 by default).
 *
 *   op_profile [--threads N] [--batch B] [--seconds T]
 *
 * 1. Runs LeNet-5's forward by hand, op by op, with the parameters of
 *    wg_lenet5() and a real Fashion-MNIST batch (checked against
 *    wg_model_forward), then a backward, and keeps every activation and
 *    every activation's gradient.
 * 2. Times each op in isolation on those values: forward = wg_tape_reset +
 *    the op on a fresh tape (recording, as in training); backward = a
 *    single-op tape whose output is seeded with its real gradient through
 *    wg_backward_from (wg_backward for the loss). Inputs are standalone
 *    tensors carrying copies of the real activations (they need a gradient
 *    when the real one does), so the backward does not zero-fill the
 *    input's gradient the way a tape activation's is (a small memset).
 * 3. Times the rest of a step (batch assembly, wg_input, the SGD momentum
 *    update) and the whole real step (as bench_wengert's lenet workload).
 *
 * Every time is the median over repetitions for at least --seconds each.
 * Prints a table: op, forward ms, backward ms, share of the measured step.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wengert.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "op_profile: %s: %s\n", what, msg ? msg : "");
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

enum { MAXREP = 200000 };
static double g_times[MAXREP];
static double g_budget = 0.3;

static double median(int n)
{
    qsort(g_times, (size_t)n, sizeof *g_times, cmp_double);
    return g_times[n / 2];
}

/* ----------------------------------------------------------- the ops */

typedef enum { K_CONV, K_TANH, K_POOL, K_FLAT, K_MM, K_ADD, K_SCE } kind;

typedef struct {
    const char *name;
    kind k;
    wg_tensor *a, *b, *c; /* inputs (standalone copies or parameters) */
    int pad;              /* conv padding */
    const int32_t *labels;
    const wg_real *dy;    /* the real gradient of the output (NULL: the loss) */
    double fwd, bwd;      /* median seconds */
} op;

static wg_tensor *apply(wg_tape *t, const op *o)
{
    switch (o->k) {
    case K_CONV: return wg_conv2d(t, o->a, o->b, o->c, 1, o->pad);
    case K_TANH: return wg_tanh(t, o->a);
    case K_POOL: return wg_maxpool2d(t, o->a, 2, 2);
    case K_FLAT: return wg_flatten(t, o->a);
    case K_MM: return wg_matmul_nt(t, o->a, o->b);
    case K_ADD: return wg_add(t, o->a, o->b);
    case K_SCE: return wg_softmax_cross_entropy(t, o->a, o->labels);
    }
    return NULL;
}

static void zero_grads(const op *o)
{
    wg_tensor *in[3] = { o->a, o->b, o->c };
    for (int i = 0; i < 3; i++)
        if (in[i] && wg_requires_grad(in[i]))
            wg_zero_grad(in[i]);
}

static void time_op(op *o)
{
    wg_tape *t = wg_tape_new();
    if (!t)
        die("tape", wg_last_error());
    /* forward */
    for (int i = 0; i < 3; i++) { /* warm-up: arena growth, first touch */
        wg_tape_reset(t);
        apply(t, o);
    }
    int n = 0;
    double start = now();
    while (n < MAXREP && (n < 20 || now() - start < g_budget)) {
        double t0 = now();
        wg_tape_reset(t);
        wg_tensor *y = apply(t, o);
        g_times[n++] = now() - t0;
        if (wg_tape_status(t) != WG_OK || !y)
            die(o->name, wg_tape_error(t));
    }
    o->fwd = median(n);
    /* backward */
    n = 0;
    start = now();
    for (int rep = -3; n < MAXREP && (n < 20 || now() - start < g_budget); rep++) {
        wg_tape_reset(t);
        zero_grads(o);
        wg_tensor *y = apply(t, o);
        double t0 = now();
        wg_status s = o->dy ? wg_backward_from(t, y, o->dy) : wg_backward(t, y);
        double dt = now() - t0;
        if (s != WG_OK)
            die(o->name, wg_tape_error(t));
        if (rep >= 0)
            g_times[n++] = dt;
    }
    o->bwd = median(n);
    wg_tape_free(t);
}

/* A standalone copy of an activation (values), needing a gradient or not. */
static wg_tensor *copy_of(const wg_tensor *x, bool grad)
{
    wg_tensor *c = wg_tensor_new(wg_shape_of(x), grad);
    if (!c)
        die("tensor_new", wg_last_error());
    memcpy(wg_data(c), wg_data(x), sizeof(wg_real) * (size_t)wg_numel(x));
    return c;
}

static const wg_real *grad_copy(const wg_tensor *x)
{
    const wg_real *g = wg_grad(x);
    if (!g)
        die("gradient", "an activation has no gradient after backward");
    wg_real *c = malloc(sizeof(wg_real) * (size_t)wg_numel(x));
    if (!c)
        die("malloc", "out of memory");
    memcpy(c, g, sizeof(wg_real) * (size_t)wg_numel(x));
    return c;
}

static wg_tensor *param(wg_model *m, const char *name)
{
    wg_tensor *p = wg_params_find(wg_model_params(m), name);
    if (!p)
        die("parameter not found", name);
    return p;
}

int main(int argc, char **argv)
{
    int threads = 1, B = 64;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--batch") == 0)
            B = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seconds") == 0)
            g_budget = atof(argv[i + 1]);
        else
            die("usage", "op_profile [--threads N] [--batch B] [--seconds T]");
    }
    if (threads < 1 || B < 1 || wg_set_num_threads(threads) != WG_OK)
        die("usage", "op_profile [--threads N] [--batch B] [--seconds T]");

    wg_dataset d;
    if (wg_mnist_load(NULL, true, &d) != WG_OK)
        die("data", wg_last_error());
    wg_model *m = wg_lenet5(10, WG_INIT_DEFAULT, 1);
    if (!m)
        die("lenet5", wg_last_error());
    wg_optim *opt = wg_sgd(wg_model_params(m), (wg_sgd_opts){ .lr = 0.01, .momentum = 0.9 });
    if (!opt)
        die("sgd", wg_last_error());
    const int64_t pixels = 784;
    wg_real *x = malloc(sizeof *x * (size_t)(B * pixels));
    int32_t *y = malloc(sizeof *y * (size_t)B);
    int64_t *idx = malloc(sizeof *idx * (size_t)B);
    wg_rng rng = wg_rng_seed(7);
    for (int i = 0; i < B; i++)
        idx[i] = (int64_t)wg_rng_below(&rng, (uint64_t)d.count);
    wg_dataset_batch(&d, idx, B, x, y);

    /* 1. the forward by hand, and its backward */
    wg_tensor *W1 = param(m, "conv1.weight"), *b1 = param(m, "conv1.bias");
    wg_tensor *W2 = param(m, "conv2.weight"), *b2 = param(m, "conv2.bias");
    wg_tensor *F1 = param(m, "fc1.weight"), *g1 = param(m, "fc1.bias");
    wg_tensor *F2 = param(m, "fc2.weight"), *g2 = param(m, "fc2.bias");
    wg_tensor *F3 = param(m, "fc3.weight"), *g3 = param(m, "fc3.bias");
    wg_tape *t = wg_tape_new();
    wg_tensor *a0 = wg_input(t, x, WG_SHAPE(B, 1, 28, 28));
    wg_tensor *c1 = wg_conv2d(t, a0, W1, b1, 1, 2), *t1 = wg_tanh(t, c1);
    wg_tensor *p1 = wg_maxpool2d(t, t1, 2, 2);
    wg_tensor *c2 = wg_conv2d(t, p1, W2, b2, 1, 0), *t2 = wg_tanh(t, c2);
    wg_tensor *p2 = wg_maxpool2d(t, t2, 2, 2), *fl = wg_flatten(t, p2);
    wg_tensor *m1 = wg_matmul_nt(t, fl, F1), *a1 = wg_add(t, m1, g1), *h1 = wg_tanh(t, a1);
    wg_tensor *m2 = wg_matmul_nt(t, h1, F2), *a2 = wg_add(t, m2, g2), *h2 = wg_tanh(t, a2);
    wg_tensor *m3 = wg_matmul_nt(t, h2, F3), *a3 = wg_add(t, m3, g3);
    wg_tensor *loss = wg_softmax_cross_entropy(t, a3, y);
    if (wg_backward(t, loss) != WG_OK)
        die("replica backward", wg_tape_error(t));
    { /* the replica is LeNet-5: same logits as the model's forward */
        wg_tape *t2x = wg_tape_new();
        wg_tensor *ref = wg_model_forward(m, t2x, wg_input(t2x, x, WG_SHAPE(B, 1, 28, 28)));
        if (wg_tape_status(t2x) != WG_OK)
            die("model forward", wg_tape_error(t2x));
        double worst = 0;
        for (int64_t i = 0; i < wg_numel(ref); i++) {
            double e = (double)wg_data(ref)[i] - (double)wg_data(a3)[i];
            worst = e < 0 ? (-e > worst ? -e : worst) : (e > worst ? e : worst);
        }
        if (worst > 1e-5)
            die("replica", "the hand-written forward differs from wg_model_forward");
        wg_tape_free(t2x);
    }

    /* 2. each op alone */
    op ops[] = {
        { "conv1 conv2d 1->6 5x5 p2", K_CONV, copy_of(a0, false), W1, b1, 2, NULL, grad_copy(c1), 0, 0 },
        { "conv1 tanh", K_TANH, copy_of(c1, true), NULL, NULL, 0, NULL, grad_copy(t1), 0, 0 },
        { "pool1 maxpool 2x2", K_POOL, copy_of(t1, true), NULL, NULL, 0, NULL, grad_copy(p1), 0, 0 },
        { "conv2 conv2d 6->16 5x5", K_CONV, copy_of(p1, true), W2, b2, 0, NULL, grad_copy(c2), 0, 0 },
        { "conv2 tanh", K_TANH, copy_of(c2, true), NULL, NULL, 0, NULL, grad_copy(t2), 0, 0 },
        { "pool2 maxpool 2x2", K_POOL, copy_of(t2, true), NULL, NULL, 0, NULL, grad_copy(p2), 0, 0 },
        { "flatten", K_FLAT, copy_of(p2, true), NULL, NULL, 0, NULL, grad_copy(fl), 0, 0 },
        { "fc1 matmul_nt 400->120", K_MM, copy_of(fl, true), F1, NULL, 0, NULL, grad_copy(m1), 0, 0 },
        { "fc1 bias add", K_ADD, copy_of(m1, true), g1, NULL, 0, NULL, grad_copy(a1), 0, 0 },
        { "fc1 tanh", K_TANH, copy_of(a1, true), NULL, NULL, 0, NULL, grad_copy(h1), 0, 0 },
        { "fc2 matmul_nt 120->84", K_MM, copy_of(h1, true), F2, NULL, 0, NULL, grad_copy(m2), 0, 0 },
        { "fc2 bias add", K_ADD, copy_of(m2, true), g2, NULL, 0, NULL, grad_copy(a2), 0, 0 },
        { "fc2 tanh", K_TANH, copy_of(a2, true), NULL, NULL, 0, NULL, grad_copy(h2), 0, 0 },
        { "fc3 matmul_nt 84->10", K_MM, copy_of(h2, true), F3, NULL, 0, NULL, grad_copy(m3), 0, 0 },
        { "fc3 bias add", K_ADD, copy_of(m3, true), g3, NULL, 0, NULL, grad_copy(a3), 0, 0 },
        { "softmax_cross_entropy", K_SCE, copy_of(a3, true), NULL, NULL, 0, y, NULL, 0, 0 },
    };
    const int n_ops = (int)(sizeof ops / sizeof *ops);
    wg_tape_free(t);
    for (int i = 0; i < n_ops; i++)
        time_op(&ops[i]);

    /* 3. the rest of a step, and the whole step */
    int n = 0;
    double start = now();
    while (n < MAXREP && (n < 20 || now() - start < g_budget)) {
        for (int i = 0; i < B; i++)
            idx[i] = (int64_t)wg_rng_below(&rng, (uint64_t)d.count);
        double t0 = now();
        wg_dataset_batch(&d, idx, B, x, y);
        g_times[n++] = now() - t0;
    }
    double t_batch = median(n);

    t = wg_tape_new();
    n = 0;
    start = now();
    while (n < MAXREP && (n < 20 || now() - start < g_budget)) {
        double t0 = now();
        wg_tape_reset(t);
        wg_input(t, x, WG_SHAPE(B, 1, 28, 28));
        g_times[n++] = now() - t0;
    }
    double t_input = median(n);

    wg_params_zero_grad(wg_model_params(m));
    n = 0;
    start = now();
    while (n < MAXREP && (n < 20 || now() - start < g_budget)) {
        double t0 = now();
        if (wg_optim_step(opt) != WG_OK)
            die("optim_step", wg_last_error());
        g_times[n++] = now() - t0;
    }
    double t_optim = median(n);

    /* the whole step, and its forward and backward halves */
    static double fwd_t[MAXREP], bwd_t[MAXREP];
    n = 0;
    start = now();
    for (int rep = -5; n < MAXREP && (n < 20 || now() - start < 3 * g_budget); rep++) {
        for (int i = 0; i < B; i++)
            idx[i] = (int64_t)wg_rng_below(&rng, (uint64_t)d.count);
        double t0 = now();
        wg_dataset_batch(&d, idx, B, x, y);
        wg_tensor *in = wg_input(t, x, WG_SHAPE(B, 1, 28, 28));
        wg_tensor *l = wg_softmax_cross_entropy(t, wg_model_forward(m, t, in), y);
        double t1 = now();
        if (wg_backward(t, l) != WG_OK)
            die("step", wg_tape_error(t));
        double t2 = now();
        if (wg_optim_step(opt) != WG_OK)
            die("step", wg_last_error());
        wg_tape_reset(t);
        double t3 = now();
        if (rep >= 0) {
            fwd_t[n] = t1 - t0;
            bwd_t[n] = t2 - t1;
            g_times[n++] = t3 - t0;
        }
    }
    double t_step = median(n);
    int steps = n;
    memcpy(g_times, fwd_t, sizeof(double) * (size_t)steps);
    double t_fwd_all = median(steps);
    memcpy(g_times, bwd_t, sizeof(double) * (size_t)steps);
    double t_bwd_all = median(steps);

    printf("LeNet-5 training step, batch %d, %d thread%s (%s)\n", B, threads,
           threads == 1 ? "" : "s", wg_build_info());
    printf("medians over >= %.2f s per line; ops timed alone on real activations and gradients\n\n",
           g_budget);
    printf("| op | forward ms | backward ms | share of step |\n| --- | ---: | ---: | ---: |\n");
    double sum_f = 0, sum_b = 0;
    for (int i = 0; i < n_ops; i++) {
        sum_f += ops[i].fwd;
        sum_b += ops[i].bwd;
        printf("| %s | %.3f | %.3f | %.1f%% |\n", ops[i].name, 1e3 * ops[i].fwd, 1e3 * ops[i].bwd,
               100 * (ops[i].fwd + ops[i].bwd) / t_step);
    }
    printf("| batch assembly (wg_dataset_batch, uint8 -> /255) | %.3f | | %.1f%% |\n",
           1e3 * t_batch, 100 * t_batch / t_step);
    printf("| wg_input (copy onto the tape) | %.3f | | %.1f%% |\n", 1e3 * t_input,
           100 * t_input / t_step);
    printf("| SGD momentum step + zero_grad (61,706 params) | | %.3f | %.1f%% |\n", 1e3 * t_optim,
           100 * t_optim / t_step);
    double sum = sum_f + sum_b + t_batch + t_input + t_optim;
    printf("| **sum of the lines above** | %.3f | %.3f | %.1f%% |\n", 1e3 * (sum_f + t_batch + t_input),
           1e3 * (sum_b + t_optim), 100 * sum / t_step);
    printf("| **measured whole step** (batch+forward+loss / backward / optim+reset) | %.3f | %.3f | "
           "100%% = %.3f ms |\n", 1e3 * t_fwd_all, 1e3 * t_bwd_all, 1e3 * t_step);
    printf("\n%d whole steps timed: %.0f images/s\n", steps, B / t_step);

    wg_tape_free(t);
    wg_optim_free(opt);
    wg_model_free(m);
    wg_dataset_free(&d);
    free(x), free(y), free(idx);
    return 0;
}
