/* The distributed-training calls in a world of one process (a plain
 * build, or an MPI build run without mpirun), and the batch slices that
 * make dropout the same under data parallelism. make check-mpi runs the
 * multi-process side (tests/mpi_dist.c). */
#include "check.h"

#include <string.h>
#include <wengert.h>

/* A dropout layer over rows [first, first + rows) of a batch of `total`
 * rows of 7 features, drawn from `rng`; the output through y. */
static void dropout_rows(wg_rng *rng, const wg_real *x, int64_t first, int64_t rows,
                         int64_t total, wg_real *y)
{
    wg_tape *t = wg_tape_new();
    CHECK(wg_tape_set_batch_slice(t, first, total) == WG_OK, "%s", wg_last_error());
    wg_tensor *in = wg_input(t, x + first * 7, WG_SHAPE(rows, 7));
    wg_tensor *out = wg_dropout(t, in, 0.5, true, rng);
    CHECK(wg_tape_status(t) == WG_OK, "dropout on rows %lld+%lld: %s", (long long)first,
          (long long)rows, wg_tape_error(t));
    if (wg_tape_status(t) == WG_OK)
        memcpy(y, wg_data(out), sizeof(wg_real) * (size_t)(rows * 7));
    wg_tape_free(t);
}

static void test_dropout_slices(void)
{
    enum { N = 5 };
    wg_real x[N * 7], whole[N * 7], parts[N * 7];
    for (int i = 0; i < N * 7; i++)
        x[i] = (wg_real)(i + 1);
    wg_rng one = wg_rng_seed(9);
    dropout_rows(&one, x, 0, N, 0, whole); /* no slice: the whole batch */
    /* two "ranks" holding 2 and 3 rows, each from the same state (a rank
     * with no rows runs no op; the trainer then copies rank 0's state) */
    static const int64_t first[2] = { 0, 2 }, rows[2] = { 2, 3 };
    for (int r = 0; r < 2; r++) {
        wg_rng rng = wg_rng_seed(9);
        dropout_rows(&rng, x, first[r], rows[r], N, parts + first[r] * 7);
        CHECK(memcmp(&rng, &one, sizeof rng) == 0, "slice %d leaves its generator elsewhere", r);
    }
    CHECK(memcmp(whole, parts, sizeof whole) == 0, "the slices' masks differ from the batch's");
    int dropped = 0;
    for (int i = 0; i < N * 7; i++)
        dropped += whole[i] == 0;
    CHECK(dropped > 5 && dropped < 30, "%d of 35 dropped at p = 0.5", dropped);

    /* a slice that the input does not fit fails the op, naming both */
    wg_rng rng = wg_rng_seed(9);
    wg_tape *t = wg_tape_new();
    wg_tape_set_batch_slice(t, 3, N);
    wg_dropout(t, wg_input(t, x, WG_SHAPE(3, 7)), 0.5, true, &rng);
    CHECK(wg_tape_status(t) == WG_ESHAPE && strstr(wg_tape_error(t), "3 rows from row 3"),
          "slice overflow: %s", wg_tape_error(t));
    CHECK(wg_tape_set_batch_slice(t, 6, 5) == WG_EINVAL, "first > total accepted");
    CHECK(wg_tape_set_batch_slice(t, -1, 5) == WG_EINVAL, "negative first accepted");
    CHECK(wg_tape_set_batch_slice(NULL, 0, 5) == WG_EINVAL, "NULL tape accepted");
    wg_tape_free(t);
}

static void test_world_of_one(void)
{
    CHECK(wg_dist_init(NULL, NULL) == WG_OK, "%s", wg_last_error());
    /* (MPI is in use only under a launcher: mpirun -np 1 also passes) */
    CHECK(wg_dist_rank() == 0 && wg_dist_size() == 1, "rank %d of %d, mpi %d", wg_dist_rank(),
          wg_dist_size(), wg_dist_mpi());
    int64_t first = -1, count = -1;
    wg_dist_shard(37, &first, &count);
    CHECK(first == 0 && count == 37, "shard of 37: %lld + %lld", (long long)first,
          (long long)count);

    wg_params *P = wg_params_new();
    wg_tensor *w = wg_param(P, "w", WG_SHAPE(3));
    wg_real *g = wg_params_grads(P);
    g[0] = 0.1f, g[1] = -2, g[2] = 3e-7f;
    const wg_real before[3] = { g[0], g[1], g[2] };
    double sums[2] = { 1.5, 7 };
    CHECK(wg_dist_allreduce_grads(P, 8, 8, sums, 2, WG_OK) == WG_OK, "%s", wg_last_error());
    CHECK(memcmp(before, g, sizeof before) == 0 && sums[0] == 1.5 && sums[1] == 7,
          "one process changed its gradients or sums");
    /* this rank's failure comes back as it was */
    CHECK(wg_dist_allreduce_grads(P, 8, 8, NULL, 0, WG_ENONFINITE) == WG_ENONFINITE,
          "a failed step's status was lost");
    /* bad arguments, named */
    CHECK(wg_dist_allreduce_grads(P, 7, 8, NULL, 0, WG_OK) == WG_EINVAL &&
          strstr(wg_last_error(), "shard of 7 images in a global batch of 8"),
          "a shard smaller than the batch of one process: %s", wg_last_error());
    CHECK(wg_dist_allreduce_grads(P, 8, 8, sums, WG_DIST_MAX_SUMS + 1, WG_OK) == WG_EINVAL &&
          strstr(wg_last_error(), "dist_allreduce_grads: 9 sums (0 to 8)"), "too many sums: %s",
          wg_last_error());
    CHECK(wg_dist_allreduce_grads(P, 8, 8, NULL, 1, WG_OK) == WG_EINVAL &&
          strstr(wg_last_error(), "1 sums from a NULL array"), "NULL sums: %s", wg_last_error());
    CHECK(wg_dist_allreduce_grads(NULL, 8, 8, NULL, 0, WG_OK) == WG_EINVAL, "NULL store accepted");
    CHECK(wg_dist_allreduce_grads(P, 0, 0, NULL, 0, WG_OK) == WG_EINVAL, "empty batch accepted");

    CHECK(wg_dist_agree(WG_OK) == WG_OK && wg_dist_agree(WG_EIO) == WG_EIO,
          "agree changed a status");
    double v[2] = { 2, 3 };
    CHECK(wg_dist_sum(v, 2) == WG_OK && v[0] == 2 && v[1] == 3, "sum over one rank");
    CHECK(wg_dist_sum(NULL, 1) == WG_EINVAL, "sum of a NULL array accepted");
    wg_data(w)[1] = 4;
    CHECK(wg_dist_broadcast_params(P) == WG_OK && wg_data(w)[1] == 4, "broadcast from rank 0");
    CHECK(wg_dist_broadcast(NULL, 4) == WG_EINVAL, "broadcast of a NULL buffer accepted");
    CHECK(wg_dist_params_equal(P) == WG_OK, "one rank differs from itself");
    wg_params_free(P);
    wg_dist_finalize();
    wg_dist_finalize(); /* twice is fine */
    CHECK(wg_dist_size() == 1, "size after finalize");
}

int main(void)
{
    test_dropout_slices();
    test_world_of_one();
    return check_done("test_dist");
}
