/* GEMM through CBLAS, split so the result does not depend on the thread
 * count: OpenBLAS's own threading, and even the size of the product it is
 * handed, change the bits, so every product is cut into tiles that depend
 * only on its shape, each tile computed by single-threaded BLAS. */
#include "internal.h"

#include <cblas.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef WG_DOUBLE
#define CBLAS_GEMM cblas_dgemm
#else
#define CBLAS_GEMM cblas_sgemm
#endif

/* Tile edge of the output; a product with fewer multiply-adds than
 * WG_GEMM_SMALL, or with both sides within a tile, is one call. Both are
 * fixed: changing them changes bits. Large tiles, because every tile packs
 * its panels of A and B again: 1024 keeps that under a few percent. */
#define WG_GEMM_TILE 1024
#define WG_GEMM_SMALL ((int64_t)1 << 21)

static void gemm1(bool ta, bool tb, int m, int n, int k, wg_real alpha, const wg_real *a, int lda,
                  const wg_real *b, int ldb, wg_real beta, wg_real *c, int ldc)
{
    CBLAS_GEMM(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
               k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void wg_gemm(bool ta, bool tb, int m, int n, int k, wg_real alpha, const wg_real *a, int lda,
             const wg_real *b, int ldb, wg_real beta, wg_real *c, int ldc)
{
    if (m <= 0 || n <= 0)
        return;
#ifdef _OPENMP
    /* The OpenMP build of OpenBLAS sizes its own team from OpenMP's default
     * (outside an active parallel region), whatever openblas_set_num_threads
     * said: keep that default at 1 in every thread that calls us. Our own
     * loops always name their team size, so this costs them nothing. */
    if (!omp_in_parallel() && omp_get_max_threads() != 1)
        omp_set_num_threads(1);
#endif
    int64_t macs = (int64_t)m * n * (k > 0 ? k : 1);
    if (macs < WG_GEMM_SMALL || (m <= WG_GEMM_TILE && n <= WG_GEMM_TILE)) {
        gemm1(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    int mt = (m + WG_GEMM_TILE - 1) / WG_GEMM_TILE;
    int nt = (n + WG_GEMM_TILE - 1) / WG_GEMM_TILE;
    int tiles = mt * nt;
    int threads = wg_threads_for(macs);
    if (threads > tiles)
        threads = tiles;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (threads > 1)
    for (int t = 0; t < tiles; t++) {
        int i0 = (t / nt) * WG_GEMM_TILE, j0 = (t % nt) * WG_GEMM_TILE;
        int mi = m - i0 < WG_GEMM_TILE ? m - i0 : WG_GEMM_TILE;
        int nj = n - j0 < WG_GEMM_TILE ? n - j0 : WG_GEMM_TILE;
        /* row i0 of op(A) and column j0 of op(B), in row-major storage */
        const wg_real *ap = ta ? a + i0 : a + (int64_t)i0 * lda;
        const wg_real *bp = tb ? b + (int64_t)j0 * ldb : b + j0;
        gemm1(ta, tb, mi, nj, k, alpha, ap, lda, bp, ldb, beta, c + (int64_t)i0 * ldc + j0, ldc);
    }
}
