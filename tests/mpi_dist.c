/* make check-mpi: data-parallel training under mpirun (tests/mpi_*.sh).
 *
 *   mpi_dist steps   LeNet-5 trained data-parallel for 300 steps, with
 *                    global batches of 61 (odd, and a smaller last batch
 *                    each epoch), 1 (only rank 0 has an image) and 64. After
 *                    every step the ranks' parameter bytes must be equal;
 *                    rank 0 also trains the same model on whole batches
 *                    as one process would, and at the end the two must
 *                    agree within TOL (docs/distributed.md says why).
 *   mpi_dist fail    a NaN on rank 1 only (anomaly mode) and a bad
 *                    argument on rank 1 only each stop the step on both
 *                    ranks, at the same step, with the right status.
 *   mpi_dist compare A.h5 B.h5 TOL
 *                    the parameters of two checkpoints agree within TOL
 *                    (max abs difference over max abs value); one process.
 */
#include "check.h"

#include <string.h>
#include <wengert.h>

/* Two tolerances (docs/distributed.md). STEP_TOL: the gradient of one
 * step, from the same parameters, over ranks against one process: only
 * the order of the float sums differs, which moves it by a few units in
 * the last place of float (measured: at most 1.2e-6 of the largest
 * gradient, 3 ranks), while a shard weighted wrongly or one image lost moves it by
 * 1e-3 and more. TOL: the parameters after 300 steps of both runs, each
 * on its own trajectory. Training is chaotic, so those rounding
 * differences grow, roughly tenfold per 100 steps at lr 0.01 (measured
 * 7.5e-4 and 7.6e-4 after 300 steps with 2 and 3 ranks); the bound leaves a factor
 * of about 7. */
#define STEP_TOL 1e-5
#define TOL 5e-3

#define IMAGES 1000
#define MAX_BATCH 64

/* max |a - b| / max |b| */
static double rel_diff(const wg_real *a, const wg_real *b, int64_t n)
{
    double d = 0, scale = 0;
    for (int64_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - (double)b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    return scale > 0 ? d / scale : d;
}

typedef struct {
    wg_model *m;
    wg_optim *o;
    wg_tape *t;
} net;

static net net_new(void)
{
    net n;
    n.m = wg_lenet5(10, WG_INIT_DEFAULT, 11);
    n.o = wg_sgd(wg_model_params(n.m), (wg_sgd_opts){ .lr = 0.01, .momentum = 0.9 });
    n.t = wg_tape_new();
    if (!n.m || !n.o || !n.t) {
        fprintf(stderr, "mpi_dist: %s\n", wg_last_error());
        exit(1);
    }
    return n;
}

static void net_free(net *n)
{
    wg_tape_free(n->t);
    wg_optim_free(n->o);
    wg_model_free(n->m);
}

/* Forward and backward of rows [first, first + count) of a batch; the
 * loss (mean over those rows) through *loss. */
static wg_status shard_backward(net *n, const wg_real *x, const int32_t *y, int64_t first,
                                int64_t count, double *loss)
{
    wg_tape_reset(n->t);
    *loss = 0;
    if (count == 0)
        return WG_OK;
    wg_tensor *in = wg_input(n->t, x + first * 784, WG_SHAPE(count, 1, 28, 28));
    wg_tensor *l = wg_softmax_cross_entropy(n->t, wg_model_forward(n->m, n->t, in), y + first);
    wg_status s = wg_backward(n->t, l);
    if (s == WG_OK)
        *loss = (double)wg_item(l);
    return s;
}

/* The gradient of a data-parallel step, as a program using the public
 * API makes it; the batch's loss through *loss. */
static wg_status dist_grads(net *n, const wg_real *x, const int32_t *y, int64_t batch,
                            double *loss)
{
    int64_t first, count;
    wg_dist_shard(batch, &first, &count);
    double local;
    wg_status s = shard_backward(n, x, y, first, count, &local);
    double sum = local * (double)count;
    s = wg_dist_allreduce_grads(wg_model_params(n->m), count, batch, &sum, 1, s);
    *loss = sum / (double)batch;
    return s;
}

/* Are rank 0's parameter bytes this rank's, on every rank? */
static bool same_bytes_everywhere(wg_params *P, wg_real *copy)
{
    const size_t bytes = sizeof(wg_real) * (size_t)wg_params_numel(P);
    memcpy(copy, wg_params_values(P), bytes);
    if (wg_dist_broadcast(copy, bytes) != WG_OK)
        return false;
    bool same = memcmp(copy, wg_params_values(P), bytes) == 0;
    return wg_dist_agree(same ? WG_OK : WG_ESTATE) == WG_OK;
}

static int run_steps(void)
{
    wg_dataset d;
    if (wg_mnist_load(NULL, true, &d) != WG_OK) {
        fprintf(stderr, "mpi_dist: %s\n", wg_last_error());
        return 77; /* no data: skipped (the same on every rank) */
    }
    d.count = IMAGES;
    const int rank = wg_dist_rank();
    net dist = net_new(), ref = net_new(), probe = net_new();
    wg_params *P = wg_model_params(dist.m), *R = wg_model_params(ref.m);
    wg_params *Q = wg_model_params(probe.m);
    const int64_t numel = wg_params_numel(P);
    wg_real *copy = malloc(sizeof(wg_real) * (size_t)numel);
    static wg_real x[MAX_BATCH * 784];
    static int32_t y[MAX_BATCH];
    CHECK(wg_dist_broadcast_params(P) == WG_OK, "%s", wg_last_error());
    /* batch 61: odd, and each 1000-image epoch ends with a batch of 24;
     * batch 1: the ranks but 0 hold no image and join with weight 0 */
    static const struct { int batch, steps; } phases[] = { { 61, 150 }, { 1, 4 }, { 61, 106 }, { 64, 40 } };
    int step = 0, unequal_steps = 0, partial = 0, empty_shards = 0;
    double worst_loss = 0, worst_grad = 0;
    for (size_t ph = 0; ph < sizeof phases / sizeof *phases; ph++) {
        wg_batcher *b = wg_batcher_new(&d, phases[ph].batch, true, 5 + ph);
        for (int k = 0; k < phases[ph].steps; k++, step++) {
            int n = wg_batcher_next(b, x, y);
            if (n == 0) /* the end of an epoch: the next one starts */
                n = wg_batcher_next(b, x, y);
            partial += n < phases[ph].batch;
            int64_t count;
            wg_dist_shard(n, NULL, &count);
            empty_shards += count == 0;
            double loss, ref_loss, probe_loss;
            wg_status s = dist_grads(&dist, x, y, n, &loss);
            if (s == WG_OK && rank == 0) {
                /* one process's gradient from the same parameters */
                memcpy(wg_params_values(Q), wg_params_values(P), sizeof(wg_real) * (size_t)numel);
                wg_params_zero_grad(Q);
                CHECK(shard_backward(&probe, x, y, 0, n, &probe_loss) == WG_OK, "probe: %s",
                      wg_tape_error(probe.t));
                double d = rel_diff(wg_params_grads(P), wg_params_grads(Q), numel);
                CHECK(d <= STEP_TOL, "step %d (batch %d): the gradients differ by %.3g", step, n,
                      d);
                worst_grad = fmax(worst_grad, d);
            }
            if (s == WG_OK)
                s = wg_optim_step(dist.o);
            if (s != WG_OK) {
                CHECK(s == WG_OK, "step %d: %s", step, wg_last_error());
                goto out;
            }
            if (rank == 0) { /* one process: the whole batch */
                CHECK(shard_backward(&ref, x, y, 0, n, &ref_loss) == WG_OK &&
                      wg_optim_step(ref.o) == WG_OK, "reference step %d: %s", step,
                      wg_tape_error(ref.t));
                worst_loss = fmax(worst_loss, fabs(loss - ref_loss) / fmax(fabs(ref_loss), 1e-3));
            }
            if (!same_bytes_everywhere(P, copy))
                unequal_steps++;
            if (wg_dist_params_equal(P) != WG_OK)
                unequal_steps++;
        }
        wg_batcher_free(b);
    }
out:
    CHECK(unequal_steps == 0, "parameters differ across ranks after %d of %d steps",
          unequal_steps, step);
    CHECK(step == 300, "ran %d of 300 steps", step);
    CHECK(partial >= 10, "only %d epoch-end partial batches", partial);
    if (wg_dist_size() > 1)
        CHECK(empty_shards == (rank >= 1 ? 4 : 0), "rank %d: %d steps without images", rank,
              empty_shards);
    if (rank == 0) {
        double rel = rel_diff(wg_params_values(P), wg_params_values(R), numel);
        printf("mpi_dist: %d ranks, %d steps (%d partial batches): parameters bitwise equal "
               "across ranks after every step; against one process: max |difference| / "
               "max |parameter| = %.3g (tolerance %.0e), worst relative loss difference %.3g; "
               "each step's gradient: max |difference| / max |gradient| = %.3g (tolerance "
               "%.0e)\n", wg_dist_size(), step, partial, rel, TOL, worst_loss, worst_grad,
               STEP_TOL);
        CHECK(rel <= TOL, "data-parallel and one-process parameters differ by %.3g", rel);
        if (wg_dist_size() == 1) /* the same computation: the same bits */
            CHECK(rel == 0, "one rank differs from one process by %.3g", rel);
    }
    free(copy);
    net_free(&dist);
    net_free(&ref);
    net_free(&probe);
    wg_dataset_free(&d);
    return check_done("mpi_dist steps");
}

/* Steps on synthetic data; rank `bad_rank` spoils step `bad_step` with
 * `spoil`. Returns the step at which the run stopped and its status. */
static int run_until_failure(int bad_step, int spoil, wg_status *status)
{
    net n = net_new();
    static wg_real x[8 * 784];
    static int32_t y[8];
    wg_rng rng = wg_rng_seed(3);
    for (int i = 0; i < 8 * 784; i++)
        x[i] = (wg_real)wg_rng_uniform(&rng);
    for (int i = 0; i < 8; i++)
        y[i] = i % 10;
    int step;
    *status = WG_OK;
    for (step = 0; step < 20 && *status == WG_OK; step++) {
        int64_t first, count;
        wg_dist_shard(8, &first, &count);
        bool bad = wg_dist_rank() == 1 && step == bad_step;
        wg_real saved = x[first * 784];
        if (bad && spoil == 0)
            x[first * 784] = NAN;
        double loss;
        wg_status s = shard_backward(&n, x, y, first, count, &loss);
        double sum = loss * (double)count;
        *status = wg_dist_allreduce_grads(wg_model_params(n.m), bad && spoil == 1 ? -1 : count, 8,
                                          &sum, 1, s);
        if (*status == WG_OK)
            *status = wg_optim_step(n.o);
        x[first * 784] = saved;
    }
    net_free(&n);
    return step - 1;
}

static int run_fail(void)
{
    if (wg_dist_size() < 2) {
        fprintf(stderr, "mpi_dist fail: needs 2 ranks\n");
        return 77;
    }
    const int rank = wg_dist_rank();
    wg_set_anomaly(true);
    wg_status s;
    int at = run_until_failure(5, 0, &s);
    CHECK(at == 5, "rank %d: the NaN on rank 1 at step 5 stopped step %d", rank, at);
    CHECK(s == (rank == 1 ? WG_ENONFINITE : WG_ESTATE), "rank %d: NaN: status %s: %s", rank,
          wg_strerror(s), wg_last_error());
    if (rank == 0)
        printf("mpi_dist fail: a NaN on rank 1: rank 0 stopped at step %d with \"%s\"\n", at,
               wg_last_error());
    at = run_until_failure(7, 1, &s);
    CHECK(at == 7, "rank %d: the bad count on rank 1 at step 7 stopped step %d", rank, at);
    CHECK(s == (rank == 1 ? WG_EINVAL : WG_ESTATE), "rank %d: bad count: status %s: %s", rank,
          wg_strerror(s), wg_last_error());
    if (rank == 1)
        printf("mpi_dist fail: rank 1's own message: %s\n", wg_last_error());
    /* a global batch that differs between ranks is caught on all of them */
    net n = net_new();
    int64_t count;
    wg_dist_shard(8, NULL, &count);
    s = wg_dist_allreduce_grads(wg_model_params(n.m), count, rank == 0 ? 8 : 9, NULL, 0, WG_OK);
    CHECK(s == WG_EINVAL, "rank %d: different global batches: %s", rank, wg_strerror(s));
    /* parameters that drifted apart (here: one value changed on rank 1) are
     * reported on every rank, and equal ones pass */
    wg_params *P = wg_model_params(n.m);
    CHECK(wg_dist_broadcast_params(P) == WG_OK && wg_dist_params_equal(P) == WG_OK,
          "rank %d: equal parameters: %s", rank, wg_last_error());
    if (rank == 1)
        wg_params_values(P)[3] += (wg_real)1e-6;
    s = wg_dist_params_equal(P);
    CHECK(s == WG_ESTATE && strstr(wg_last_error(), "the parameters differ"),
          "rank %d: drifted parameters: %s: %s", rank, wg_strerror(s), wg_last_error());
    net_free(&n);
    /* still in step afterwards: a collective that every rank reaches */
    CHECK(wg_dist_agree(WG_OK) == WG_OK, "rank %d: %s", rank, wg_last_error());
    /* an MPI call that fails (rank 1 expects fewer bytes than rank 0
     * broadcasts: MPI reports a truncation on rank 1) comes back as WG_EIO
     * with MPI's message, not as an abort */
    char buf[64] = { 0 };
    s = wg_dist_broadcast(buf, rank == 0 ? sizeof buf : 8);
    if (rank == 1) {
        CHECK(s == WG_EIO && strstr(wg_last_error(), "dist_broadcast: MPI error on rank 1"),
              "rank 1: a failing broadcast: %s: %s", wg_strerror(s), wg_last_error());
        printf("mpi_dist fail: a failing MPI call: %s\n", wg_last_error());
    }
    return check_done("mpi_dist fail");
}

static int run_compare(const char *a, const char *b, double tol)
{
    wg_model *ma = wg_checkpoint_load_model(a), *mb = ma ? wg_checkpoint_load_model(b) : NULL;
    if (!ma || !mb) {
        fprintf(stderr, "mpi_dist compare: %s\n", wg_last_error());
        wg_model_free(ma);
        return 1;
    }
    wg_params *A = wg_model_params(ma), *B = wg_model_params(mb);
    CHECK(wg_params_numel(A) == wg_params_numel(B), "%s and %s hold different models", a, b);
    if (wg_params_numel(A) == wg_params_numel(B)) {
        double rel = rel_diff(wg_params_values(A), wg_params_values(B), wg_params_numel(A));
        printf("mpi_dist compare: %s vs %s: max |difference| / max |parameter| = %.3g "
               "(tolerance %.0e)\n", a, b, rel, tol);
        CHECK(rel <= tol, "the checkpoints differ by %.3g", rel);
    }
    wg_model_free(ma);
    wg_model_free(mb);
    return check_done("mpi_dist compare");
}

int main(int argc, char **argv)
{
    if (wg_dist_init(&argc, &argv) != WG_OK) {
        fprintf(stderr, "mpi_dist: %s\n", wg_last_error());
        return 1;
    }
    wg_set_num_threads(1);
    const char *mode = argc > 1 ? argv[1] : "steps";
    int rc;
    if (strcmp(mode, "steps") == 0)
        rc = run_steps();
    else if (strcmp(mode, "fail") == 0)
        rc = run_fail();
    else if (strcmp(mode, "compare") == 0 && argc == 5)
        rc = run_compare(argv[2], argv[3], atof(argv[4]));
    else {
        fprintf(stderr, "usage: mpi_dist [steps | fail | compare A.h5 B.h5 TOL]\n");
        rc = 2;
    }
    wg_dist_finalize();
    return rc;
}
