/* The one thread knob, library initialisation, and the build report. */
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef HAVE_OPENBLAS_SET_NUM_THREADS
void openblas_set_num_threads(int);
#endif
#ifdef HAVE_OPENBLAS_GET_PARALLEL
int openblas_get_parallel(void);
#endif
#ifdef HAVE_OPENBLAS_GET_CORENAME
char *openblas_get_corename(void);
#endif
#ifdef HAVE_OPENBLAS_GET_CONFIG
char *openblas_get_config(void);
#endif

static int g_threads = 1;
static bool g_anomaly;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init_once(void)
{
    int n = 0;
    const char *env = getenv("OMP_NUM_THREADS");
    if (env)
        n = atoi(env);
    if (n < 1) {
        long p = sysconf(_SC_NPROCESSORS_ONLN);
        n = p > 0 ? (int)p : 1;
    }
    g_threads = n;
    const char *an = getenv("WG_ANOMALY");
    g_anomaly = an && *an && strcmp(an, "0") != 0;
#ifdef HAVE_OPENBLAS_SET_NUM_THREADS
    /* BLAS must run single-threaded: its own threading changes the bits
     * with the thread count. (The OpenMP build of OpenBLAS also follows
     * OpenMP's default team size; wg_gemm keeps that at 1.) */
    openblas_set_num_threads(1);
#endif
}

void wg_lib_init(void)
{
    pthread_once(&g_once, init_once);
}

wg_status wg_set_num_threads(int n)
{
    wg_lib_init();
    if (n < 1)
        return wg_set_last_error(WG_EINVAL, "set_num_threads: %d is not a positive count", n);
#ifndef _OPENMP
    n = 1;
#endif
    g_threads = n;
    return WG_OK;
}

void wg_set_anomaly(bool on)
{
    wg_lib_init();
    g_anomaly = on;
}

bool wg_anomaly(void)
{
    wg_lib_init();
    return g_anomaly;
}

int wg_get_num_threads(void)
{
    wg_lib_init();
    return g_threads;
}

int wg_threads(void)
{
    wg_lib_init();
    return g_threads;
}

int wg_threads_for(int64_t work)
{
    /* below this many element-operations a parallel region costs more than
     * it saves; inside one, nested teams would only oversubscribe */
    const int64_t grain = 32768;
#ifdef _OPENMP
    if (omp_in_parallel())
        return 1;
#endif
    if (work < 2 * grain)
        return 1;
    int64_t most = work / grain;
    int n = wg_threads();
    return most < n ? (int)most : n;
}

const char *wg_version(void)
{
    return PACKAGE_VERSION;
}

const char *wg_build_info(void)
{
    static char buf[768];
    const char *blas = WG_BLAS_NAME;
    const char *par = "";
    const char *core = "";
    const char *config = "";
#ifdef HAVE_OPENBLAS_GET_PARALLEL
    switch (openblas_get_parallel()) {
    case 0: par = ", sequential build"; break;
    case 1: par = ", pthreads build"; break;
    case 2: par = ", OpenMP build"; break;
    }
#endif
#ifdef HAVE_OPENBLAS_GET_CORENAME
    core = openblas_get_corename();
#endif
#ifdef HAVE_OPENBLAS_GET_CONFIG
    config = openblas_get_config();
#endif
    /* under mpirun: how many ranks share the work (docs/distributed.md) */
    char ranks[48] = "";
    if (wg_dist_size() > 1)
        snprintf(ranks, sizeof ranks, ", MPI (%d ranks)", wg_dist_size());
    snprintf(buf, sizeof buf, "wengert %s, %s precision, BLAS %s%s%s%s%s%s%s, vector math %s, %s%s, %d thread%s",
             PACKAGE_VERSION, sizeof(wg_real) == sizeof(double) ? "double" : "single", blas, par,
             *core ? ", core " : "", core, *config ? " (" : "", config, *config ? ")" : "",
             wg_vmath_name(),
#ifdef _OPENMP
             "OpenMP",
#else
             "no OpenMP",
#endif
             ranks, wg_get_num_threads(), wg_get_num_threads() == 1 ? "" : "s");
    return buf;
}
