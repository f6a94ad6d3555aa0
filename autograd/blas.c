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

/* Tiles of the output: a product with fewer multiply-adds than
 * WG_GEMM_SMALL is one call; a larger one is cut into tiles of at most
 * WG_GEMM_TILE on a side, and further (halving the longer side of the
 * tile) until there are WG_GEMM_MIN_TILES of them, as long as each keeps
 * WG_GEMM_TILE_MACS multiply-adds, so two threads have work even in the
 * batch-64 products of a small network. Everything here is fixed by the
 * shape: changing a constant changes bits. Large tiles, because every tile
 * packs its panels of A and B again (wide_mlp's 256 x 4096 x 4096 products:
 * 2048 measured 3-4% faster than 1024, 4096 another 1% but too few tiles
 * for more than two threads on a 4096-wide output). */
#define WG_GEMM_TILE 2048
#define WG_GEMM_SMALL ((int64_t)1 << 20)
#define WG_GEMM_MIN_TILES 2
#define WG_GEMM_TILE_MACS ((int64_t)1 << 19)

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
    if (macs < WG_GEMM_SMALL) {
        gemm1(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    int tm = m < WG_GEMM_TILE ? m : WG_GEMM_TILE, tn = n < WG_GEMM_TILE ? n : WG_GEMM_TILE;
    int mt = (m + tm - 1) / tm, nt = (n + tn - 1) / tn;
    while (mt * nt < WG_GEMM_MIN_TILES && (macs / (mt * nt)) / 2 >= WG_GEMM_TILE_MACS) {
        /* halve the longer side, kept a multiple of 16 for BLAS's kernels */
        if (tn >= tm && tn >= 32)
            tn = ((tn / 2 + 15) / 16) * 16;
        else if (tm >= 32)
            tm = ((tm / 2 + 15) / 16) * 16;
        else
            break;
        mt = (m + tm - 1) / tm;
        nt = (n + tn - 1) / tn;
    }
    int tiles = mt * nt;
    int threads = wg_threads_for(macs);
    if (threads > tiles)
        threads = tiles;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (threads > 1)
    for (int t = 0; t < tiles; t++) {
        int i0 = (t / nt) * tm, j0 = (t % nt) * tn;
        int mi = m - i0 < tm ? m - i0 : tm;
        int nj = n - j0 < tn ? n - j0 : tn;
        /* row i0 of op(A) and column j0 of op(B), in row-major storage */
        const wg_real *ap = ta ? a + i0 : a + (int64_t)i0 * lda;
        const wg_real *bp = tb ? b + (int64_t)j0 * ldb : b + j0;
        gemm1(ta, tb, mi, nj, k, alpha, ap, lda, bp, ldb, beta, c + (int64_t)i0 * ldc + j0, ldc);
    }
}
