/* The wengert side of bench/run: one workload at one thread count, or the
 * cblas_sgemm reference on a model's GEMM shapes. Prints one JSON line.
 *
 *   bench_wengert --workload W --threads N [--steps S] [--warmup K] [--seed s]
 *   bench_wengert --gemm W --threads N [--seconds T]
 *   bench_wengert --info
 *
 * Workloads: mlp, lenet, autoencoder, wide_mlp, lenet_infer (see README.md).
 * A training step is what examples/trainer.c does: assemble the batch from
 * the uint8 images as pixel / 255 (wg_dataset_batch), wg_input, forward,
 * loss, wg_backward, wg_optim_step, wg_tape_reset. The batch indices come
 * from a seeded permutation made before timing, so every batch is full.
 *
 * Heap allocations are counted with a wg_set_allocator() hook installed
 * before any object exists; only the timed steps are counted.
 *
 * With WG_PERF_CTL_FD / WG_PERF_ACK_FD in the environment (perf record
 * --control fd:CTL,ACK -D -1), profiling is enabled only around the timed
 * steps (used by bench/profile_lenet.sh).
 */
#define _GNU_SOURCE
#include <cblas.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <wengert.h>

/* ---------------------------------------------------------------- utils */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* KiB on Linux */
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_wengert: %s: %s\n", what, msg ? msg : "");
    exit(1);
}

/* ------------------------------------------------------ counting allocator */

static uint64_t g_allocs; /* malloc + realloc calls through the hook */

static void *count_malloc(size_t n, void *ctx)
{
    (void)ctx;
    __atomic_fetch_add(&g_allocs, 1, __ATOMIC_RELAXED);
    return malloc(n);
}

static void *count_realloc(void *p, size_t n, void *ctx)
{
    (void)ctx;
    __atomic_fetch_add(&g_allocs, 1, __ATOMIC_RELAXED);
    return realloc(p, n);
}

static void count_free(void *p, void *ctx)
{
    (void)ctx;
    free(p);
}

/* ------------------------------------------------------------ perf control */

static int g_perf_ctl = -1, g_perf_ack = -1;

static void perf_control(const char *cmd)
{
    if (g_perf_ctl < 0)
        return;
    char buf[16];
    if (write(g_perf_ctl, cmd, strlen(cmd)) < 0)
        return;
    if (g_perf_ack >= 0 && read(g_perf_ack, buf, sizeof buf) < 0)
        return;
}

/* ------------------------------------------------------------- workloads */

typedef struct {
    const char *name;
    int batch;
    int train;       /* 0: inference only */
    int classify;    /* softmax cross-entropy; else MSE against the input */
    /* GEMM reference: the linear layers (in, out); none for conv models */
    int n_layers;
    int layers[4][2];
} workload;

static const workload WORKLOADS[] = {
    { "mlp", 64, 1, 1, 2, { { 784, 128 }, { 128, 10 } } },
    { "lenet", 64, 1, 1, 0, { { 0 } } },
    { "autoencoder", 64, 1, 0, 4, { { 784, 32 }, { 32, 32 }, { 32, 32 }, { 32, 784 } } },
    { "wide_mlp", 256, 1, 1, 3, { { 784, 4096 }, { 4096, 4096 }, { 4096, 10 } } },
    { "lenet_infer", 1000, 0, 1, 0, { { 0 } } },
};

static const workload *find_workload(const char *name)
{
    for (size_t i = 0; i < sizeof WORKLOADS / sizeof *WORKLOADS; i++)
        if (strcmp(WORKLOADS[i].name, name) == 0)
            return &WORKLOADS[i];
    die("unknown workload", name);
    return NULL;
}

/* The wide MLP, 784 -> 4096 -> 4096 -> 10 with relu, built from layers. */
typedef struct {
    wg_linear fc1, fc2, fc3;
} wide_mlp;

static wg_tensor *wide_forward(wg_model *m, wg_tape *t, wg_tensor *x, void *state)
{
    (void)m;
    const wide_mlp *s = state;
    if (wg_ndim(x) > 2)
        x = wg_flatten(t, x);
    x = wg_activate(t, WG_ACT_RELU, wg_linear_apply(t, &s->fc1, x), "fc1");
    x = wg_activate(t, WG_ACT_RELU, wg_linear_apply(t, &s->fc2, x), "fc2");
    return wg_linear_apply(t, &s->fc3, x);
}

static wg_model *wide_mlp_new(uint64_t seed)
{
    wide_mlp *s = calloc(1, sizeof *s);
    wg_model *m = s ? wg_model_new("wide_mlp", wide_forward, s, free, seed) : NULL;
    if (!m)
        die("wide_mlp", wg_last_error());
    wg_params *p = wg_model_params(m);
    wg_rng *r = wg_model_rng(m);
    if (wg_linear_init(&s->fc1, p, "fc1", 784, 4096, true, WG_INIT_DEFAULT, r) ||
        wg_linear_init(&s->fc2, p, "fc2", 4096, 4096, true, WG_INIT_DEFAULT, r) ||
        wg_linear_init(&s->fc3, p, "fc3", 4096, 10, true, WG_INIT_DEFAULT, r))
        die("wide_mlp", wg_last_error());
    return m;
}

static void build(const workload *w, uint64_t seed, wg_model **model, wg_optim **opt)
{
    wg_model *m = NULL;
    wg_sgd_opts so = { 0 };
    if (strcmp(w->name, "mlp") == 0) {
        m = wg_mlp(784, 128, 10, WG_ACT_SIGMOID, WG_INIT_DEFAULT, seed);
        so.lr = 0.1;
    } else if (strcmp(w->name, "lenet") == 0 || strcmp(w->name, "lenet_infer") == 0) {
        m = wg_lenet5(10, WG_INIT_DEFAULT, seed);
        so.lr = 0.01;
        so.momentum = 0.9;
    } else if (strcmp(w->name, "autoencoder") == 0) {
        m = wg_autoencoder(784, 32, 32, 32, WG_INIT_DEFAULT, seed);
        so.lr = 5.0; /* docs/results.md's configuration */
        so.momentum = 0.9;
    } else if (strcmp(w->name, "wide_mlp") == 0) {
        m = wide_mlp_new(seed);
        so.lr = 0.01;
    }
    if (!m)
        die(w->name, wg_last_error());
    *model = m;
    *opt = NULL;
    if (w->train) {
        *opt = wg_sgd(wg_model_params(m), so);
        if (!*opt)
            die("sgd", wg_last_error());
    }
}

static int run_workload(const workload *w, int threads, int steps, int warmup, uint64_t seed)
{
    double t_start = now();
    wg_dataset d;
    if (wg_mnist_load(NULL, true, &d) != WG_OK)
        die("data", wg_last_error());
    const int B = w->batch;
    const int64_t pixels = (int64_t)d.channels * d.rows * d.cols;

    wg_model *m;
    wg_optim *opt;
    build(w, seed, &m, &opt);

    /* the batch order: a seeded permutation, long enough for every step */
    const int64_t total = (int64_t)(steps + warmup) * B;
    int64_t *order = malloc(sizeof *order * (size_t)total);
    int64_t *perm = malloc(sizeof *perm * (size_t)d.count);
    wg_real *x = malloc(sizeof *x * (size_t)(B * pixels));
    int32_t *y = malloc(sizeof *y * (size_t)B);
    if (!order || !perm || !x || !y)
        die("setup", "out of memory");
    wg_rng rng = wg_rng_seed(seed + 1);
    for (int64_t filled = 0; filled < total;) {
        for (int64_t i = 0; i < d.count; i++)
            perm[i] = i;
        for (int64_t i = d.count - 1; i > 0; i--) {
            int64_t j = (int64_t)wg_rng_below(&rng, (uint64_t)i + 1), tmp = perm[i];
            perm[i] = perm[j];
            perm[j] = tmp;
        }
        /* inference reads the images in order, as an evaluation does */
        for (int64_t i = 0; i < d.count && filled < total; i++, filled++)
            order[filled] = w->train ? perm[i] : i;
    }

    wg_tape *tape = wg_tape_new();
    if (!tape)
        die("tape", wg_last_error());
    if (!w->train)
        wg_tape_set_grad(tape, false);

    double t0 = 0, loss_first = 0, loss_last = 0;
    uint64_t allocs0 = 0;
    for (int s = 0; s < warmup + steps; s++) {
        if (s == warmup) {
            perf_control("enable\n");
            allocs0 = __atomic_load_n(&g_allocs, __ATOMIC_RELAXED);
            t0 = now();
        }
        wg_dataset_batch(&d, order + (int64_t)s * B, B, x, y);
        wg_tensor *in = wg_input(tape, x, WG_SHAPE(B, d.channels, d.rows, d.cols));
        wg_tensor *out = wg_model_forward(m, tape, in);
        wg_tensor *loss = w->classify ? wg_softmax_cross_entropy(tape, out, y)
                                      : wg_mse(tape, out, wg_flatten(tape, in));
        if (w->train) {
            if (wg_backward(tape, loss) != WG_OK)
                die("backward", wg_tape_error(tape));
            if (wg_optim_step(opt) != WG_OK)
                die("optim_step", wg_last_error());
        } else if (wg_tape_status(tape) != WG_OK) {
            die("forward", wg_tape_error(tape));
        }
        loss_last = (double)wg_item(loss);
        if (s == 0)
            loss_first = loss_last;
        wg_tape_reset(tape);
    }
    double dt = now() - t0;
    uint64_t allocs = __atomic_load_n(&g_allocs, __ATOMIC_RELAXED) - allocs0;
    perf_control("disable\n");

    size_t held = 0, peak = 0;
    wg_tape_memory(tape, &held, &peak);
    printf("{\"side\":\"wengert\",\"workload\":\"%s\",\"threads\":%d,\"steps\":%d,\"warmup\":%d,"
           "\"batch\":%d,\"seconds\":%.6f,\"ips\":%.3f,\"rss_mb\":%.2f,\"allocs_per_step\":%.4f,"
           "\"allocs_setup\":%llu,\"tape_peak_mb\":%.3f,\"params\":%lld,\"loss_first\":%.6g,\"loss_last\":%.6g,"
           "\"wall_total\":%.3f}\n",
           w->name, threads, steps, warmup, B, dt, (double)steps * B / dt, peak_rss_mb(),
           (double)allocs / steps, (unsigned long long)allocs0, (double)peak / 1048576.0,
           (long long)wg_params_numel(wg_model_params(m)), loss_first, loss_last,
           now() - t_start);

    wg_tape_free(tape);
    wg_optim_free(opt);
    wg_model_free(m);
    wg_dataset_free(&d);
    free(order), free(perm), free(x), free(y);
    return 0;
}

/* ------------------------------------------------------------ GEMM reference */

typedef struct {
    const char *what;
    CBLAS_TRANSPOSE ta, tb;
    int m, n, k;
    float beta;
} gemm_shape;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median seconds per call of one GEMM shape, over about `budget` seconds. */
static double time_gemm(const gemm_shape *g, double budget)
{
    const int lda = g->ta == CblasNoTrans ? g->k : g->m;
    const int ldb = g->tb == CblasNoTrans ? g->n : g->k;
    const size_t na = (size_t)g->m * g->k, nb = (size_t)g->k * g->n, nc = (size_t)g->m * g->n;
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *c = malloc(nc * sizeof *c);
    if (!a || !b || !c)
        die("gemm", "out of memory");
    for (size_t i = 0; i < na; i++)
        a[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    for (size_t i = 0; i < nb; i++)
        b[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
    memset(c, 0, nc * sizeof *c);
    enum { MAXREP = 100000 };
    static double times[MAXREP];
    /* warm-up: first touch, thread start-up */
    for (int i = 0; i < 2; i++)
        cblas_sgemm(CblasRowMajor, g->ta, g->tb, g->m, g->n, g->k, 1.0f, a, lda, b, ldb,
                    g->beta, c, g->n);
    int reps = 0;
    double start = now();
    while (reps < MAXREP && (reps < 3 || now() - start < budget)) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, g->ta, g->tb, g->m, g->n, g->k, 1.0f, a, lda, b, ldb,
                    g->beta, c, g->n);
        times[reps++] = now() - t0;
    }
    qsort(times, (size_t)reps, sizeof *times, cmp_double);
    free(a), free(b), free(c);
    return times[reps / 2];
}

static int run_gemm(const workload *w, int threads, double budget)
{
    if (w->n_layers == 0)
        die("gemm", "this workload has no GEMM reference (not a fully connected model)");
    /* OpenBLAS's OpenMP build follows OpenMP's default team size: set both */
    openblas_set_num_threads(threads);
    omp_set_num_threads(threads);
    const int B = w->batch;
    gemm_shape shapes[12];
    int n = 0;
    for (int l = 0; l < w->n_layers; l++) {
        int in = w->layers[l][0], out = w->layers[l][1];
        /* forward  Y [B x out] = X [B x in] W[out x in]^T */
        shapes[n++] = (gemm_shape){ "fwd", CblasNoTrans, CblasTrans, B, out, in, 0.0f };
        /* weight gradient dW [out x in] += dY^T [out x B] X [B x in] */
        shapes[n++] = (gemm_shape){ "wgrad", CblasTrans, CblasNoTrans, out, in, B, 1.0f };
        /* input gradient dX [B x in] += dY [B x out] W [out x in]; the first
         * layer's input is the data, which needs no gradient (neither side
         * computes it) */
        if (l > 0)
            shapes[n++] = (gemm_shape){ "igrad", CblasNoTrans, CblasNoTrans, B, in, out, 1.0f };
    }
    double flops = 0, seconds = 0;
    printf("{\"side\":\"gemm\",\"workload\":\"%s\",\"threads\":%d,\"openblas_threads\":%d,"
           "\"shapes\":[", w->name, threads, openblas_get_num_threads());
    for (int i = 0; i < n; i++) {
        double f = 2.0 * shapes[i].m * shapes[i].n * shapes[i].k;
        double s = time_gemm(&shapes[i], budget);
        flops += f;
        seconds += s;
        printf("%s{\"op\":\"%s\",\"m\":%d,\"n\":%d,\"k\":%d,\"gflops\":%.3f}", i ? "," : "",
               shapes[i].what, shapes[i].m, shapes[i].n, shapes[i].k, f / s * 1e-9);
    }
    printf("],\"flops_per_image\":%.1f,\"gflops\":%.4f}\n", flops / B, flops / seconds * 1e-9);
    return 0;
}

/* -------------------------------------------------------------------- main */

static void usage(void)
{
    fprintf(stderr, "usage: bench_wengert --workload W --threads N [--steps S] [--warmup K] "
                    "[--seed s]\n       bench_wengert --gemm W --threads N [--seconds T]\n"
                    "       bench_wengert --info\n");
    exit(2);
}

int main(int argc, char **argv)
{
    /* before any object exists, as wg_set_allocator() requires */
    wg_allocator a = { count_malloc, count_realloc, count_free, NULL };
    wg_set_allocator(&a);
    const char *work = NULL, *gemm = NULL;
    int threads = 1, steps = 100, warmup = 5;
    double budget = 0.25;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "--info") == 0) {
            printf("%s\n", wg_build_info());
            return 0;
        }
        if (!v)
            usage();
        if (strcmp(o, "--workload") == 0)
            work = v;
        else if (strcmp(o, "--gemm") == 0)
            gemm = v;
        else if (strcmp(o, "--threads") == 0)
            threads = atoi(v);
        else if (strcmp(o, "--steps") == 0)
            steps = atoi(v);
        else if (strcmp(o, "--warmup") == 0)
            warmup = atoi(v);
        else if (strcmp(o, "--seconds") == 0)
            budget = atof(v);
        else if (strcmp(o, "--seed") == 0)
            seed = strtoull(v, NULL, 10);
        else
            usage();
        i++;
    }
    if ((!work) == (!gemm) || threads < 1 || steps < 1 || warmup < 0)
        usage();
    const char *ctl = getenv("WG_PERF_CTL_FD"), *ack = getenv("WG_PERF_ACK_FD");
    if (ctl && *ctl)
        g_perf_ctl = atoi(ctl);
    if (ack && *ack)
        g_perf_ack = atoi(ack);
    if (wg_set_num_threads(threads) != WG_OK)
        die("threads", wg_last_error());
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (gemm)
        return run_gemm(find_workload(gemm), threads, budget);
    return run_workload(find_workload(work), threads, steps, warmup, seed);
}
