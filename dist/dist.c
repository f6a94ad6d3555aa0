/* Data-parallel training over MPI: one rank per process, each computing
 * the gradient of its shard of every global batch; one MPI_Allreduce per
 * step over the contiguous gradient block makes them the gradient of the
 * whole batch. Built without MPI (the default), or run outside mpirun,
 * every call acts as the only rank of a world of one, so programs compile
 * and run unchanged either way. */
#include "internal.h"

#include <string.h>

#ifdef WG_HAVE_MPI
#include <mpi.h>
#include <stdlib.h>
#endif

#ifdef WG_DOUBLE
#define WG_MPI_REAL MPI_DOUBLE
#else
#define WG_MPI_REAL MPI_FLOAT
#endif

/* The reduced message is the gradient block followed by this tail: the
 * number of ranks whose step failed, the images the shards add up to,
 * the global batch sizes the ranks were given (their sum is size times
 * global_n only if all agree), and the caller's sums. Folding them into the gradients' message makes
 * a failure on any rank known to all of them without a second collective. */
enum { TAIL_FAILED, TAIL_IMAGES, TAIL_GLOBAL, TAIL_SUMS, TAIL_LEN = TAIL_SUMS + WG_DIST_MAX_SUMS };
_Static_assert(TAIL_LEN <= WG_GRAD_TAIL, "params.c must leave room for the tail");

static int g_rank = 0, g_size = 1;
static bool g_mpi;          /* MPI is in use: built with it and run under a launcher */
#ifdef WG_HAVE_MPI
static bool g_we_initialized;
#endif

#ifdef WG_HAVE_MPI
/* mpirun, mpiexec and srun all export one of these to each process. A
 * program started by hand stays a world of one without MPI_Init, so a
 * plain run of an MPI build needs no launcher and behaves as before. */
static bool launched_by_mpi(void)
{
    static const char *const vars[] = { "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK",
                                        "PMI_SIZE" };
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i]))
            return true;
    return false;
}

static wg_status mpi_error(const char *fn, int rc)
{
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return wg_set_last_error(WG_EIO, "%s: MPI error on rank %d of %d: %s", fn, g_rank, g_size,
                             msg);
}
#endif

wg_status wg_dist_init(int *argc, char ***argv)
{
#ifdef WG_HAVE_MPI
    if (g_mpi || !launched_by_mpi())
        return WG_OK;
    int done = 0;
    MPI_Initialized(&done);
    if (!done) {
        int rc = MPI_Init(argc, argv);
        if (rc != MPI_SUCCESS)
            return wg_set_last_error(WG_EIO, "dist_init: MPI_Init failed (error %d)", rc);
        g_we_initialized = true;
    }
    /* errors come back as values, as everywhere in wengert, instead of
     * MPI's default of aborting the job */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_mpi = true;
    /* each rank would default to all of the machine's processors, so N
     * ranks on one machine would run N times too many threads: they
     * share the processors out, unless OMP_NUM_THREADS says otherwise */
    MPI_Comm local;
    int n_local = 1;
    if (!getenv("OMP_NUM_THREADS") &&
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) ==
            MPI_SUCCESS) {
        MPI_Comm_size(local, &n_local);
        MPI_Comm_free(&local);
        int share = wg_get_num_threads() / n_local;
        wg_set_num_threads(share > 0 ? share : 1);
    }
#else
    (void)argc;
    (void)argv;
#endif
    return WG_OK;
}

void wg_dist_finalize(void)
{
#ifdef WG_HAVE_MPI
    int done = 0;
    if (g_mpi && g_we_initialized && (MPI_Finalized(&done), !done))
        MPI_Finalize();
    g_mpi = false;
    g_we_initialized = false;
#endif
    g_rank = 0;
    g_size = 1;
}

int wg_dist_rank(void) { return g_rank; }

int wg_dist_size(void) { return g_size; }

bool wg_dist_mpi(void) { return g_mpi; }

void wg_dist_shard(int64_t n, int64_t *first, int64_t *count)
{
    if (n < 0)
        n = 0;
    /* the first n % size ranks take one image more: sizes differ by at
     * most 1 and rank order is batch order */
    int64_t base = n / g_size, extra = n % g_size, r = g_rank;
    if (first)
        *first = r * base + (r < extra ? r : extra);
    if (count)
        *count = base + (r < extra ? 1 : 0);
}

wg_status wg_dist_allreduce_grads(wg_params *p, int64_t local_n, int64_t global_n, double *sums,
                                  int n_sums, wg_status status)
{
    static const char *fn = "dist_allreduce_grads";
    if (!p)
        return wg_set_last_error(WG_EINVAL, "%s: NULL parameter store", fn);
    /* bad arguments fail this rank's step, but it still joins the
     * reduction, so the other ranks learn of it instead of waiting */
    wg_status bad = WG_OK;
    if (n_sums < 0 || n_sums > WG_DIST_MAX_SUMS)
        bad = wg_set_last_error(WG_EINVAL, "%s: %d sums (0 to %d)", fn, n_sums,
                                WG_DIST_MAX_SUMS);
    else if (n_sums > 0 && !sums)
        bad = wg_set_last_error(WG_EINVAL, "%s: %d sums from a NULL array", fn, n_sums);
    else if (global_n < 1 || local_n < 0 || local_n > global_n ||
             (g_size == 1 && local_n != global_n))
        bad = wg_set_last_error(WG_EINVAL, "%s: shard of %lld images in a global batch of %lld",
                                fn, (long long)local_n, (long long)global_n);
    if (status == WG_OK)
        status = bad;
    const int64_t numel = wg_params_numel(p);
    wg_real *g = wg_params_grads(p);
    if (g_size == 1) /* the whole batch: nothing to combine, not even a scale by 1 */
        return status;
#ifdef WG_HAVE_MPI
    /* the block has WG_GRAD_TAIL spare elements after the gradients
     * (params.c); a store without parameters has no block at all */
    wg_real own_tail[TAIL_LEN];
    wg_real *tail = g ? g + numel : own_tail;
    if (status != WG_OK || local_n == 0) {
        /* a failed rank's gradients may be garbage, and a rank without
         * images has weight 0: neither may reach the sum */
        if (numel)
            memset(g, 0, (size_t)numel * sizeof *g);
    } else if (local_n != global_n) {
        /* each shard's loss is the mean over its images, so the batch's
         * gradient is the sum over ranks of (n_r / n) grad_r */
        const wg_real w = (wg_real)((double)local_n / (double)global_n);
        for (int64_t i = 0; i < numel; i++)
            g[i] *= w;
    }
    memset(tail, 0, TAIL_LEN * sizeof *tail);
    tail[TAIL_FAILED] = status != WG_OK;
    tail[TAIL_IMAGES] = (wg_real)local_n;
    tail[TAIL_GLOBAL] = (wg_real)global_n;
    for (int i = 0; status == WG_OK && i < n_sums; i++)
        tail[TAIL_SUMS + i] = (wg_real)sums[i];
    int rc = MPI_Allreduce(MPI_IN_PLACE, g ? g : tail, (int)(numel + TAIL_LEN), WG_MPI_REAL,
                           MPI_SUM, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
        return mpi_error(fn, rc);
    if (status != WG_OK)
        return status;
    if (tail[TAIL_FAILED] > 0)
        return wg_set_last_error(WG_ESTATE, "%s: the step failed on %.0f of %d ranks", fn,
                                 (double)tail[TAIL_FAILED], g_size);
    if (tail[TAIL_IMAGES] != (wg_real)global_n || tail[TAIL_GLOBAL] != (wg_real)global_n * g_size)
        return wg_set_last_error(WG_EINVAL, "%s: the shards hold %.0f images, and the ranks "
                                 "were given global batches adding up to %.0f, for a global "
                                 "batch of %lld on each of %d ranks", fn,
                                 (double)tail[TAIL_IMAGES], (double)tail[TAIL_GLOBAL],
                                 (long long)global_n, g_size);
    for (int i = 0; i < n_sums; i++)
        sums[i] = (double)tail[TAIL_SUMS + i];
    return WG_OK;
#else
    (void)numel;
    (void)g;
    return status;
#endif
}

wg_status wg_dist_broadcast(void *buf, size_t bytes)
{
    if (!buf && bytes)
        return wg_set_last_error(WG_EINVAL, "dist_broadcast: NULL buffer of %zu bytes", bytes);
#ifdef WG_HAVE_MPI
    if (g_size == 1)
        return WG_OK;
    /* MPI counts are int: send in pieces of at most 1 GiB */
    for (size_t off = 0; off < bytes;) {
        size_t n = bytes - off < ((size_t)1 << 30) ? bytes - off : (size_t)1 << 30;
        int rc = MPI_Bcast((char *)buf + off, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_error("dist_broadcast", rc);
        off += n;
    }
#endif
    return WG_OK;
}

wg_status wg_dist_broadcast_params(wg_params *p)
{
    if (!p)
        return wg_set_last_error(WG_EINVAL, "dist_broadcast_params: NULL parameter store");
    return wg_dist_broadcast(wg_params_values(p),
                             (size_t)wg_params_numel(p) * sizeof(wg_real));
}

wg_status wg_dist_sum(double *v, int n)
{
    if (n < 0 || (n > 0 && !v))
        return wg_set_last_error(WG_EINVAL, "dist_sum: %d values%s", n,
                                 n > 0 && !v ? " from a NULL array" : "");
#ifdef WG_HAVE_MPI
    if (g_size > 1 && n > 0) {
        int rc = MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_error("dist_sum", rc);
    }
#endif
    return WG_OK;
}

wg_status wg_dist_agree(wg_status status)
{
    double failed = status != WG_OK;
    wg_status s = wg_dist_sum(&failed, 1);
    if (status != WG_OK)
        return status;
    if (s != WG_OK)
        return s;
    if (failed > 0)
        return wg_set_last_error(WG_ESTATE, "dist_agree: failed on %.0f of %d ranks", failed,
                                 g_size);
    return WG_OK;
}

#ifdef WG_HAVE_MPI
/* FNV-1a over the bytes: any difference in any bit changes it (with
 * overwhelming probability); it only has to compare ranks, not resist
 * an adversary. */
static uint64_t hash_bytes(const void *data, size_t n)
{
    const unsigned char *b = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}
#endif

wg_status wg_dist_params_equal(const wg_params *p)
{
    if (!p)
        return wg_set_last_error(WG_EINVAL, "dist_params_equal: NULL parameter store");
    if (g_size == 1)
        return WG_OK;
#ifdef WG_HAVE_MPI
    {
        uint64_t h = hash_bytes(wg_params_values(p),
                                (size_t)wg_params_numel(p) * sizeof(wg_real));
        /* the minimum of h and of ~h: all ranks agree exactly when the
         * minimum of h is also the maximum, i.e. ~min(~h) */
        uint64_t v[2] = { h, ~h };
        int rc = MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_error("dist_params_equal", rc);
        if (v[0] != ~v[1])
            return wg_set_last_error(WG_ESTATE, "dist_params_equal: the parameters differ "
                                     "across the %d ranks (rank %d's hash %016llx)", g_size,
                                     g_rank, (unsigned long long)h);
    }
#endif
    return WG_OK;
}
