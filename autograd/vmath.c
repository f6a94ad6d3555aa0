/* Element-wise transcendental functions over arrays: the one home for
 * them, so a vector library can replace the scalar loops in one place. */
#include "internal.h"

#include <math.h>

#ifdef WG_DOUBLE
#define TANH tanh
#define EXP exp
#else
#define TANH tanhf
#define EXP expf
#endif

void wg_vtanh(int64_t n, const wg_real *x, wg_real *y)
{
#pragma omp parallel for num_threads(wg_threads_for(n * 16)) schedule(static)
    for (int64_t i = 0; i < n; i++)
        y[i] = TANH(x[i]);
}

void wg_vsigmoid(int64_t n, const wg_real *x, wg_real *y)
{
#pragma omp parallel for num_threads(wg_threads_for(n * 16)) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        /* the two branches keep exp from overflowing for large |x| */
        if (x[i] >= 0)
            y[i] = 1 / (1 + EXP(-x[i]));
        else {
            wg_real e = EXP(x[i]);
            y[i] = e / (1 + e);
        }
    }
}

void wg_vexp(int64_t n, const wg_real *x, wg_real *y)
{
#pragma omp parallel for num_threads(wg_threads_for(n * 16)) schedule(static)
    for (int64_t i = 0; i < n; i++)
        y[i] = EXP(x[i]);
}
